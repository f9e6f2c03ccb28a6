import { toJson } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { InvalidInputError } from "@mlzero/errors";
import { TaskSchema, TaskState, type Task } from "@mlzero/proto";
import type { CliCommand } from "./cli-command.js";
import { GATEWAY_FLAG, GATEWAY_USAGE, gatewayAddressFrom, withGateway, type TaskClient } from "./gateway-client.js";
import { optionalNumber, parseCommandLine } from "./task-options.js";
import { STATE_NAMES, parseState, tasksTable } from "./task-text.js";

const DEFAULT_LIMIT = 20;
/** The most tasks one List call asks for (the gateway caps pages at 500). */
const PAGE_SIZE = 100;

const USAGE = `usage: mlzero ls [options]

Lists tasks, newest first.

  --state STATE                only tasks in this state (${STATE_NAMES.join(", ")})
  --limit N                    at most N tasks (default ${DEFAULT_LIMIT})
  --json                       a JSON array of Task messages (protobuf JSON mapping)
${GATEWAY_USAGE}`;

/** `mlzero ls`: the gateway's tasks, as a table or JSON. */
export const lsCommand: CliCommand = {
  name: "ls",
  synopsis: "[--state STATE] [--limit N] [--json]",
  summary: "list tasks, newest first",
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseCommandLine(args, {
      state: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean", default: false },
      ...GATEWAY_FLAG,
    });
    if (positionals.length > 0) throw new InvalidInputError(`mlzero ls takes no arguments, got ${JSON.stringify(positionals[0])}`);
    const state = values.state !== undefined ? parseState(values.state) : TaskState.UNSPECIFIED;
    const limit = optionalNumber(values.limit, "--limit", true) ?? DEFAULT_LIMIT;
    const address = gatewayAddressFrom(values.gateway, io.env);
    const tasks = await withGateway(address, (client) => listTasks(client, { state, limit }));
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
}

/** Up to `limit` tasks, newest first, following the gateway's page tokens. */
export async function listTasks(client: Pick<TaskClient, "list">, options: ListTasksOptions): Promise<Task[]> {
  const found: Task[] = [];
  let pageToken = "";
  do {
    const pageSize = Math.min(options.limit - found.length, options.pageSize ?? PAGE_SIZE);
    const page = await client.list({ state: options.state, pageSize, pageToken });
    found.push(...page.tasks);
    // An empty page with a token would loop for ever; a gateway should not send one.
    pageToken = page.tasks.length > 0 ? page.nextPageToken : "";
  } while (pageToken && found.length < options.limit);
  // The gateway lists newest first already; sorting keeps that promise across pages, stable on ties.
  const created = (task: Task) => (task.createdAt ? timestampMs(task.createdAt) : 0);
  return found.slice(0, options.limit).sort((a, b) => created(b) - created(a));
}
