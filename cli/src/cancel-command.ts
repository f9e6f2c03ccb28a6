import { GrpcStatus, RpcError } from "@mlzero/rpc";
import type { CliCommand } from "./cli-command.js";
import { GATEWAY_FLAG, GATEWAY_USAGE, gatewayFrom, withGateway } from "./gateway-client.js";
import { oneTaskId, parseCommandLine } from "./task-options.js";
import { isFinished, stateName } from "./task-text.js";

const USAGE = `usage: mlzero cancel <task-id> [options]

Asks the gateway to cancel a task: its running program is killed and the
task ends as cancelled. A finished task is left as it is.

  --reason TEXT                why, recorded as the task's message
${GATEWAY_USAGE}`;

/** `mlzero cancel`: ends a running task. */
export const cancelCommand: CliCommand = {
  name: "cancel",
  synopsis: "<task-id> [--reason TEXT]",
  summary: "cancel a running task",
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseCommandLine(args, { reason: { type: "string" }, ...GATEWAY_FLAG });
    const taskId = oneTaskId("cancel", positionals);
    const gateway = gatewayFrom(values, io.env);
    const before = await withGateway(gateway, async (tasks) => {
      const { task: current } = await tasks.get({ taskId });
      if (current && isFinished(current)) return current;
      try {
        await tasks.cancel({ taskId, reason: values.reason ?? "" });
      } catch (error) {
        // It finished between the two calls.
        if (!(error instanceof RpcError && error.code === GrpcStatus.FAILED_PRECONDITION)) throw error;
        return (await tasks.get({ taskId })).task;
      }
      return undefined;
    });
    if (before) io.stdout.write(`task ${taskId} already ${stateName(before.state)}; nothing to cancel\n`);
    else io.stdout.write(`cancel requested for task ${taskId}\n`);
    return 0;
  },
};
