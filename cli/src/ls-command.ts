import { toJson } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { InvalidInputError } from "@mlzero/errors";
import { TaskSchema, TaskState, type Task } from "@mlzero/proto";
import type { CliCommand } from "./cli-command.js";
import { GATEWAY_FLAG, GATEWAY_USAGE, gatewayFrom, withGateway, type TaskClient } from "./gateway-client.js";
import { optionalNumber, parseCommandLine } from "./task-options.js";
import { TASK_STATE_NAMES } from "@mlzero/gateway";
import { parseState, tasksTable } from "./task-text.js";

const DEFAULT_LIMIT = 20;
/** The most tasks one List call asks for (the gateway caps pages at 500). */
const PAGE_SIZE = 100;

const USAGE = `usage: mlzero ls [options]

Lists tasks, newest first.

  --state STATE                only tasks in this state (${TASK_STATE_NAMES.join(", ")})
  --since TIME                 only tasks created at or after TIME (ISO 8601, e.g. 2025-01-31T09:00Z)
  --until TIME                 only tasks created before TIME
  --limit N                    at most N tasks (default ${DEFAULT_LIMIT})
  --json                       a JSON array of Task messages (protobuf JSON mapping)
${GATEWAY_USAGE}`;

/** `mlzero ls`: the gateway's tasks, as a table or JSON. */
export const lsCommand: CliCommand = {
  name: "ls",
  synopsis: "[--state STATE] [--since TIME] [--until TIME] [--limit N] [--json]",
  summary: "list tasks, newest first",
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseCommandLine(args, {
      state: { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean", default: false },
      ...GATEWAY_FLAG,
    });
    if (positionals.length > 0) throw new InvalidInputError(`mlzero ls takes no arguments, got ${JSON.stringify(positionals[0])}`);
    const state = values.state !== undefined ? parseState(values.state) : TaskState.UNSPECIFIED;
    const limit = optionalNumber(values.limit, "--limit", true) ?? DEFAULT_LIMIT;
    const gateway = gatewayFrom(values, io.env);
    const createdAfterMs = timeFrom(values.since, "--since");
    const createdBeforeMs = timeFrom(values.until, "--until");
    const tasks = await withGateway(gateway, (client) => listTasks(client, { state, limit, createdAfterMs, createdBeforeMs }));
    if (values.json)
      io.stdout.write(
        `${JSON.stringify(
          tasks.map((task) => toJson(TaskSchema, task)),
          null,
          2,
        )}\n`,
      );
    else if (tasks.length === 0) io.stdout.write("no tasks\n");
    else io.stdout.write(tasksTable(tasks));
    return 0;
  },
};

/** Options for {@link listTasks}. */
export interface ListTasksOptions {
  /** Only tasks in this state; UNSPECIFIED for all. */
  state: TaskState;
  limit: number;
  pageSize?: number;
  /** Only tasks created at or after this time (epoch ms). */
  createdAfterMs?: number;
  /** Only tasks created before this time (epoch ms). */
  createdBeforeMs?: number;
}

/** Up to `limit` tasks, newest first, following the gateway's page tokens. */
export async function listTasks(client: Pick<TaskClient, "list">, options: ListTasksOptions): Promise<Task[]> {
  const found: Task[] = [];
  let pageToken = "";
  do {
    const pageSize = Math.min(options.limit - found.length, options.pageSize ?? PAGE_SIZE);
    const page = await client.list({
      state: options.state,
      pageSize,
      pageToken,
      createdAfter: options.createdAfterMs === undefined ? undefined : timestampFromMs(options.createdAfterMs),
      createdBefore: options.createdBeforeMs === undefined ? undefined : timestampFromMs(options.createdBeforeMs),
    });
    found.push(...page.tasks);
    // An empty page with a token would loop for ever; a gateway should not send one.
    pageToken = page.tasks.length > 0 ? page.nextPageToken : "";
  } while (pageToken && found.length < options.limit);
  // The gateway lists newest first already; sorting keeps that promise across pages, stable on ties.
  const created = (task: Task) => (task.createdAt ? timestampMs(task.createdAt) : 0);
  return found.slice(0, options.limit).sort((a, b) => created(b) - created(a));
}

/** A time flag as epoch ms: an ISO 8601 date or date-time. */
function timeFrom(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const ms = /^\d{4}-\d\d-\d\d/.test(raw.trim()) ? Date.parse(raw.trim()) : Number.NaN;
  if (!Number.isFinite(ms))
    throw new InvalidInputError(
      `${flag} must be an ISO 8601 date or time (e.g. 2025-01-31 or 2025-01-31T09:00Z), got ${JSON.stringify(raw)}`,
    );
  return ms;
}
