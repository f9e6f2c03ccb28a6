import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { InvalidInputError } from "@mlzero/errors";
import type { TaskSpecSchema } from "@mlzero/proto";

/** What a task asks for: the input folder and the flags `run` and `submit` share. */
export interface TaskOptions {
  inputDir: string;
  maxIterations: number | undefined;
  timeLimitSeconds: number | undefined;
  iterationTimeLimitSeconds: number | undefined;
  description: string;
  tool: string;
  gpus: number;
  parallelism: number | undefined;
  maxGpus: number | undefined;
  maxLlmTokens: number | undefined;
  maxLlmCostUsd: number | undefined;
}

/** The flags of {@link TaskOptions}, for `parseArgs`. */
export const TASK_FLAGS = {
  "max-iterations": { type: "string" },
  "time-limit": { type: "string" },
  "iteration-time-limit": { type: "string" },
  description: { type: "string" },
  "description-file": { type: "string" },
  tool: { type: "string" },
  gpus: { type: "string" },
  parallelism: { type: "string" },
  "max-gpus": { type: "string" },
  "max-llm-tokens": { type: "string" },
  "max-llm-cost": { type: "string" },
} as const satisfies ParseArgsOptionsConfig;

/** What each budget flag defaults to, as the command's usage says it. */
export interface TaskFlagDefaults {
  maxIterations: string;
  timeLimit: string;
  iterationTimeLimit: string;
}

/** Usage lines of {@link TASK_FLAGS}. */
export function taskFlagsUsage(defaults: TaskFlagDefaults): string {
  return `  --max-iterations N           most programs to try (${defaults.maxIterations})
  --time-limit SECONDS         deadline for the whole task (${defaults.timeLimit})
  --iteration-time-limit SECONDS  limit for one program run (${defaults.iterationTimeLimit})
  --description TEXT           what the task is, in a few lines
  --description-file FILE      the same, from a file
  --tool NAME                  a tool to try first (e.g. lightgbm, autogluon, sklearn)
  --gpus N                     GPUs for each program run; with 1 or more the GPU variants
                               (image-timm, text-transformer) are ranked first (default 0)
  --parallelism N              candidate programs run at once in each round of the search
                               (default 1: one program at a time)
  --max-gpus N                 most GPUs the task's runs hold at once: with --gpus G, a round
                               runs at most N/G programs (default: no bound)
  --max-llm-tokens N           most LLM tokens the task may use (default: no limit)
  --max-llm-cost USD           most LLM cost in dollars, from MLZERO_LLM_PRICES (default: no limit)`;
}

/** `parseArgs` in strict mode; a mistake is an InvalidInputError with its first line. */
export function parseCommandLine<const Options extends ParseArgsOptionsConfig>(args: string[], options: Options) {
  try {
    return parseArgs({ args, allowPositionals: true, strict: true, options });
  } catch (error) {
    throw new InvalidInputError((error as Error).message.split("\n")[0]!);
  }
}

/** The one task id a command takes. */
export function oneTaskId(command: string, positionals: string[]): string {
  if (positionals.length !== 1 || !positionals[0]!.trim()) throw new InvalidInputError(`mlzero ${command} needs exactly one task id`);
  return positionals[0]!.trim();
}

type TaskFlagValues = { [K in keyof typeof TASK_FLAGS]?: string };

/** The task options from parsed flags and the one input folder; `command` names the command in messages. */
export async function taskOptionsFrom(command: string, values: TaskFlagValues, positionals: string[]): Promise<TaskOptions> {
  if (positionals.length !== 1) throw new InvalidInputError(`mlzero ${command} needs exactly one input folder`);
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
    maxIterations: optionalNumber(values["max-iterations"], "--max-iterations", true),
    timeLimitSeconds: optionalNumber(values["time-limit"], "--time-limit", false),
    iterationTimeLimitSeconds: optionalNumber(values["iteration-time-limit"], "--iteration-time-limit", false),
    description,
    tool: values.tool ?? "",
    gpus: gpuCount(values.gpus),
    parallelism: optionalNumber(values.parallelism, "--parallelism", true),
    maxGpus: optionalNumber(values["max-gpus"], "--max-gpus", true),
    maxLlmTokens: optionalNumber(values["max-llm-tokens"], "--max-llm-tokens", true),
    maxLlmCostUsd: optionalNumber(values["max-llm-cost"], "--max-llm-cost", false),
  };
}

/**
 * The `TaskSpec` the options ask for. The input folder goes as an absolute
 * path: the gateway resolves paths against its own working directory.
 * Budget values left out are 0 or unset, which the gateway fills in.
 */
export function taskSpecFrom(options: TaskOptions): MessageInitShape<typeof TaskSpecSchema> {
  const seconds = (value: number | undefined) => (value ? durationFromMs(value * 1000) : undefined);
  return {
    inputUri: path.resolve(options.inputDir),
    description: options.description,
    budget: {
      maxIterations: options.maxIterations ?? 0,
      timeLimit: seconds(options.timeLimitSeconds),
      iterationTimeLimit: seconds(options.iterationTimeLimitSeconds),
      toolHint: options.tool,
      gpus: options.gpus,
      parallelism: options.parallelism ?? 0,
      maxGpus: options.maxGpus ?? 0,
      maxLlmTokens: BigInt(options.maxLlmTokens ?? 0),
      maxLlmCostUsd: options.maxLlmCostUsd ?? 0,
    },
  };
}

/** GPUs per run from `--gpus`: a whole number, 0 (the default) for none. */
function gpuCount(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === "0") return 0;
  return optionalNumber(raw, "--gpus", true)!;
}

/** A positive number from a flag, or undefined when the flag is absent. */
export function optionalNumber(raw: string | undefined, flag: string, integer: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new InvalidInputError(`${flag} must be a positive ${integer ? "whole number" : "number"}, got ${JSON.stringify(raw)}`);
  }
  return value;
}
