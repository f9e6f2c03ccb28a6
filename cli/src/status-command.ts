import { toJson } from "@bufbuild/protobuf";
import { TaskSchema } from "@mlzero/proto";
import type { CliCommand } from "./cli-command.js";
import { GATEWAY_FLAG, GATEWAY_USAGE, gatewayFrom, withGateway } from "./gateway-client.js";
import { oneTaskId, parseCommandLine } from "./task-options.js";
import { statusText } from "./task-text.js";

const USAGE = `usage: mlzero status <task-id> [options]

Shows a task: state, iteration, tool, score, message, output folder, and a
table of its iterations.

  --json                       the Task message as JSON (protobuf JSON mapping)
${GATEWAY_USAGE}`;

/** `mlzero status`: one task, as text or JSON. */
export const statusCommand: CliCommand = {
  name: "status",
  synopsis: "<task-id> [--json]",
  summary: "show a task's state, score, output folder and iterations",
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseCommandLine(args, { json: { type: "boolean", default: false }, ...GATEWAY_FLAG });
    const taskId = oneTaskId("status", positionals);
    const gateway = gatewayFrom(values, io.env);
    const { task } = await withGateway(gateway, (tasks) => tasks.get({ taskId }));
    if (!task) throw new Error("the gateway answered Get without a task");
    io.stdout.write(values.json ? `${JSON.stringify(toJson(TaskSchema, task), null, 2)}\n` : statusText(task));
    return 0;
  },
};
