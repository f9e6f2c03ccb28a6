import { InvalidInputError } from "@mlzero/errors";
import { TASK_FLAGS, parseCommandLine, taskFlagsUsage, taskOptionsFrom, type TaskOptions } from "./task-options.js";

/** What `mlzero run` was asked to do. */
export interface RunOptions extends TaskOptions {
  outDir: string;
  workspace: string | undefined;
  keepWorkspace: boolean;
  verbose: boolean;
}

export const RUN_USAGE = `usage: mlzero run <input-dir> --out <dir> [options]

  --out DIR                    where predictions, program, logs and reports go (required)
${taskFlagsUsage({ maxIterations: "default 5", timeLimit: "default 1800", iterationTimeLimit: "default: min(600, time limit)" })}
  --workspace DIR              keep the task workspace here instead of a temporary folder
  --verbose                    print the services' logs to stderr too`;

/** Parses `mlzero run` arguments; a mistake is an InvalidInputError naming it. */
export async function parseRunOptions(args: string[]): Promise<RunOptions> {
  const { values, positionals } = parseCommandLine(args, {
    out: { type: "string" },
    ...TASK_FLAGS,
    workspace: { type: "string" },
    verbose: { type: "boolean", default: false },
  });
  if (positionals.length !== 1) throw new InvalidInputError("mlzero run needs exactly one input folder");
  if (!values.out) throw new InvalidInputError("mlzero run needs --out <dir>");
  return {
    ...(await taskOptionsFrom("run", values, positionals)),
    outDir: values.out,
    workspace: values.workspace,
    keepWorkspace: values.workspace !== undefined,
    verbose: values.verbose ?? false,
  };
}
