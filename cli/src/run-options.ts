import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { InvalidInputError } from "@mlzero/errors";

/** What `mlzero run` was asked to do. */
export interface RunOptions {
  inputDir: string;
  outDir: string;
  maxIterations: number | undefined;
  timeLimitSeconds: number | undefined;
  iterationTimeLimitSeconds: number | undefined;
  description: string;
  tool: string;
  workspace: string | undefined;
  keepWorkspace: boolean;
  verbose: boolean;
}

export const RUN_USAGE = `usage: mlzero run <input-dir> --out <dir> [options]

  --out DIR                    where predictions, program, logs and reports go (required)
  --max-iterations N           most programs to try (default 5)
  --time-limit SECONDS         deadline for the whole task (default 1800)
  --iteration-time-limit SECONDS  limit for one program run (default: min(600, time limit))
  --description TEXT           what the task is, in a few lines
  --description-file FILE      the same, from a file
  --tool NAME                  a tool to try first (e.g. lightgbm, autogluon, sklearn)
  --workspace DIR              keep the task workspace here instead of a temporary folder
  --verbose                    print the services' logs to stderr too`;

/** Parses `mlzero run` arguments; a mistake is an InvalidInputError naming it. */
export async function parseRunOptions(args: string[]): Promise<RunOptions> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        out: { type: "string" },
        "max-iterations": { type: "string" },
        "time-limit": { type: "string" },
        "iteration-time-limit": { type: "string" },
        description: { type: "string" },
        "description-file": { type: "string" },
        tool: { type: "string" },
        workspace: { type: "string" },
        verbose: { type: "boolean", default: false },
      },
    });
  } catch (error) {
    throw new InvalidInputError((error as Error).message.split("\n")[0]!);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new InvalidInputError("mlzero run needs exactly one input folder");
  if (!values.out) throw new InvalidInputError("mlzero run needs --out <dir>");
  if (values.description !== undefined && values["description-file"] !== undefined) {
    throw new InvalidInputError("give --description or --description-file, not both");
  }
  let description = values.description ?? "";
  if (values["description-file"] !== undefined) {
    const file = values["description-file"];
    description = await readFile(file, "utf8").catch(() => {
      throw new InvalidInputError(`cannot read description file ${file}`);
    });
  }
  return {
    inputDir: positionals[0]!,
    outDir: values.out,
    maxIterations: optionalNumber(values["max-iterations"], "--max-iterations", true),
    timeLimitSeconds: optionalNumber(values["time-limit"], "--time-limit", false),
    iterationTimeLimitSeconds: optionalNumber(values["iteration-time-limit"], "--iteration-time-limit", false),
    description,
    tool: values.tool ?? "",
    workspace: values.workspace,
    keepWorkspace: values.workspace !== undefined,
    verbose: values.verbose ?? false,
  };
}

function optionalNumber(raw: string | undefined, flag: string, integer: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new InvalidInputError(`${flag} must be a positive ${integer ? "whole number" : "number"}, got ${JSON.stringify(raw)}`);
  }
  return value;
}
