import type { CliCommand } from "./cli-command.js";
import { followTask, reportInterrupted } from "./follow-task.js";
import { GATEWAY_FLAG, GATEWAY_USAGE, gatewayFrom, withGateway } from "./gateway-client.js";
import { TASK_FLAGS, parseCommandLine, taskFlagsUsage, taskOptionsFrom, taskSpecFrom } from "./task-options.js";
import { reportOutcome } from "./task-text.js";

const USAGE = `usage: mlzero submit <input-dir> [options]

Submits a task to the gateway and prints its id; with --wait, follows it to
the end (exit 0 when it succeeded, 1 when not). The gateway reads the input
folder itself, so it must see the same file system.

  --wait                       follow the task until it finishes
${taskFlagsUsage({ maxIterations: "default: the gateway's", timeLimit: "default: the gateway's", iterationTimeLimit: "default: the gateway's" })}
  --idempotency-key KEY        a repeat with the same key returns the same task
${GATEWAY_USAGE}`;

/** `mlzero submit`: a task to the gateway over gRPC. */
export const submitCommand: CliCommand = {
  name: "submit",
  synopsis: "<input-dir> [--wait]",
  summary: "submit a task to the gateway; --wait follows it to the end",
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseCommandLine(args, {
      ...TASK_FLAGS,
      wait: { type: "boolean", default: false },
      "idempotency-key": { type: "string" },
      ...GATEWAY_FLAG,
    });
    const options = await taskOptionsFrom("submit", values, positionals);
    const gateway = gatewayFrom(values, io.env);
    return withGateway(gateway, async (tasks) => {
      const { task } = await tasks.submit({ spec: taskSpecFrom(options), idempotencyKey: values["idempotency-key"] ?? "" });
      if (!task) throw new Error("the gateway answered Submit without a task");
      if (!values.wait) {
        io.stdout.write(`${task.taskId}\n`);
        io.stderr.write(`mlzero: task ${task.taskId} submitted; follow it with: mlzero watch ${task.taskId}\n`);
        return 0;
      }
      io.stderr.write(`mlzero: task ${task.taskId} started on ${options.inputDir}\n`);
      const followed = await followTask(tasks, task, { address: gateway.address, io });
      return followed.interrupted ? reportInterrupted(followed.task, io) : reportOutcome(followed.task, io);
    });
  },
};
