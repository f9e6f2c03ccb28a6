import { InvalidInputError } from "@mlzero/errors";
import type { CliCommand } from "./cli-command.js";
import { followTask, reportInterrupted } from "./follow-task.js";
import { GATEWAY_FLAG, GATEWAY_USAGE, gatewayFrom, withGateway } from "./gateway-client.js";
import { oneTaskId, parseCommandLine } from "./task-options.js";
import { reportOutcome } from "./task-text.js";

const USAGE = `usage: mlzero watch <task-id> [options]

Shows a task's progress from the start (or after --after) until it finishes;
a finished task's updates are replayed. Exit 0 when it succeeded, 1 when not.

  --after SEQ                  only the updates after this sequence number
${GATEWAY_USAGE}`;

/** `mlzero watch`: a task's updates, replayed and then live. */
export const watchCommand: CliCommand = {
  name: "watch",
  synopsis: "<task-id> [--after SEQ]",
  summary: "follow a task's progress until it finishes",
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseCommandLine(args, { after: { type: "string" }, ...GATEWAY_FLAG });
    const taskId = oneTaskId("watch", positionals);
    const after = sequenceFrom(values.after);
    const gateway = gatewayFrom(values, io.env);
    return withGateway(gateway, async (tasks) => {
      // Get first: an unknown id is NOT_FOUND here, and the creation time anchors the elapsed clock.
      const { task } = await tasks.get({ taskId });
      if (!task) throw new Error("the gateway answered Get without a task");
      const followed = await followTask(tasks, task, { address: gateway.address, io, afterSequence: after });
      return followed.interrupted ? reportInterrupted(followed.task, io) : reportOutcome(followed.task, io);
    });
  },
};

function sequenceFrom(raw: string | undefined): bigint {
  if (raw === undefined) return 0n;
  if (!/^\d+$/.test(raw.trim())) throw new InvalidInputError(`--after must be a sequence number (0 or more), got ${JSON.stringify(raw)}`);
  return BigInt(raw.trim());
}
