import { create } from "@bufbuild/protobuf";
import { FailureCategory, FixSchema, type Attempt, type Fix, type PerceptualContext } from "@mlzero/proto";
import { OUTPUTS_DIR } from "@mlzero/program";
import type { FailureDiagnosis } from "./classify-failure.js";

/** Everything the decision after a failed run depends on. */
export interface NextStepInput {
  diagnosis: FailureDiagnosis;
  /** The iteration just run (1-based): iterations used so far. */
  iteration: number;
  /** Tool of the program just run. */
  tool: string;
  /** Earlier iterations, oldest first. */
  attempts: Attempt[];
  context: PerceptualContext;
  maxIterations: number;
  /** Seconds left before the task's deadline; undefined when it has none. */
  secondsLeft?: number;
}

/** Run again with this fix, or stop. */
export type NextStep = { kind: "fix"; fix: Fix } | { kind: "give_up"; reason: string };

/** Below this, another program cannot load data, train and predict. */
export const MIN_SECONDS_FOR_RUN = 15;
/** Retries of one tool at a lower reduce level after running out of memory or time. */
export const MAX_REDUCTIONS = 2;
/** Failures of the program's own making (not memory or time) after which a tool is dropped. */
export const MAX_FAILURES_PER_TOOL = 2;

const RESOURCE_FAILURES = new Set([FailureCategory.OUT_OF_MEMORY, FailureCategory.TIMEOUT]);

/**
 * Chooses what follows a failed run. A missing module means the tool cannot
 * run here: next tool at once. Running out of memory or time means the same
 * program on less data or lighter models, twice, before changing tool. Any
 * other failure is the program's bug: one more try with the same tool and a
 * plan naming the cause, then the next tool. Tools are taken in perception's
 * order, skipping those that cannot import or have used up their chances.
 */
export function decideNextStep(input: NextStepInput): NextStep {
  const { diagnosis, tool } = input;
  if (diagnosis.category === FailureCategory.CANCELLED) return { kind: "give_up", reason: "the task was cancelled" };
  // Every program runs in the same image: no fix or other tool gets past this.
  if (diagnosis.category === FailureCategory.PLATFORM) return { kind: "give_up", reason: diagnosis.summary };
  if (input.iteration >= input.maxIterations) {
    return { kind: "give_up", reason: `all ${input.maxIterations} iterations of the budget are used` };
  }
  if (input.secondsLeft !== undefined && input.secondsLeft < MIN_SECONDS_FOR_RUN) {
    return { kind: "give_up", reason: `only ${Math.max(0, Math.floor(input.secondsLeft))} s are left before the deadline` };
  }
  const history: HistoryEntry[] = [
    ...input.attempts.map(({ tool, failure }) => ({ tool, failure })),
    { tool, failure: diagnosis.category },
  ];
  const priorReductions = input.attempts.filter((attempt) => attempt.tool === tool && RESOURCE_FAILURES.has(attempt.failure)).length;

  if (diagnosis.category === FailureCategory.MISSING_MODULE) {
    return switchTool(input, history, `module '${diagnosis.module ?? "?"}' is not installed`);
  }
  if (RESOURCE_FAILURES.has(diagnosis.category)) {
    const what = diagnosis.category === FailureCategory.TIMEOUT ? "time" : "memory";
    if (priorReductions >= MAX_REDUCTIONS) {
      return switchTool(input, history, `it ran out of ${what} even at reduce level ${priorReductions}`);
    }
    const level = priorReductions + 1;
    return fix(
      { tool, reduceLevel: level },
      `Run ${tool} again at reduce level ${level} (less data, lighter models): it ran out of ${what}.`,
    );
  }
  const failures = bugFailures(history, tool);
  if (failures >= MAX_FAILURES_PER_TOOL) {
    return switchTool(input, history, `${tool} failed ${failures} times, last with: ${diagnosis.summary}`);
  }
  // Keep the reduce level the tool had reached, or it would run out again.
  return sameToolFix(input, priorReductions);
}

type HistoryEntry = { tool: string; failure: FailureCategory };

/** Failures of a tool that were the program's fault; memory and time have their own budget. */
function bugFailures(history: HistoryEntry[], tool: string): number {
  return history.filter(
    (entry) =>
      entry.tool === tool &&
      entry.failure !== FailureCategory.NONE &&
      entry.failure !== FailureCategory.UNSPECIFIED &&
      !RESOURCE_FAILURES.has(entry.failure),
  ).length;
}

/** Whether a tool has used up its chances: cannot import, too many bugs, or too big even reduced. */
function exhausted(history: HistoryEntry[], tool: string): boolean {
  const own = history.filter((entry) => entry.tool === tool);
  return (
    own.some((entry) => entry.failure === FailureCategory.MISSING_MODULE) ||
    bugFailures(history, tool) >= MAX_FAILURES_PER_TOOL ||
    own.filter((entry) => RESOURCE_FAILURES.has(entry.failure)).length > MAX_REDUCTIONS
  );
}

function switchTool(input: NextStepInput, history: HistoryEntry[], reason: string): NextStep {
  const names = input.context.tools.map((candidate) => candidate.name);
  // Only tools ranked below the current one: going back would loop.
  const start = names.indexOf(input.tool);
  const next = names.find((name, index) => index > start && name !== input.tool && !exhausted(history, name));
  if (next === undefined) return { kind: "give_up", reason: `no tool is left to try after ${input.tool} (${reason})` };
  return fix({ tool: next, reduceLevel: 0 }, `Switch from ${input.tool} to ${next}: ${reason}.`);
}

function sameToolFix(input: NextStepInput, reduceLevel: number): NextStep {
  const { diagnosis, tool, context } = input;
  const cause = diagnosis.summary;
  switch (diagnosis.category) {
    case FailureCategory.BAD_COLUMN:
      return badColumnFix(input, reduceLevel);
    case FailureCategory.SYNTAX_ERROR:
      return fix({ tool, reduceLevel }, `Rewrite the ${tool} program without the syntax error: ${cause}`);
    case FailureCategory.TYPE_ERROR:
      return fix(
        { tool, reduceLevel },
        `Fix the column types in the ${tool} program (encode text and categorical columns, cast numbers): ${cause}`,
      );
    case FailureCategory.SHAPE_MISMATCH:
      return fix(
        { tool, reduceLevel },
        `Give the ${tool} model the same features, in the same order, for training and prediction: ${cause}`,
      );
    case FailureCategory.DATA_ERROR:
      return fix(
        { tool, reduceLevel },
        `Fix how the ${tool} program reads and cleans the data (paths under ../input, parsing, missing values): ${cause}`,
      );
    case FailureCategory.MISSING_OUTPUT:
    case FailureCategory.INVALID_OUTPUT: {
      const columns = context.output?.columns.join(", ") ?? "";
      return fix(
        { tool, reduceLevel },
        `Make the ${tool} program write ${OUTPUTS_DIR}/${context.output?.fileName ?? ""} with columns [${columns}], one row per test row: ${cause}`,
      );
    }
    default:
      return fix({ tool, reduceLevel }, `Fix the ${tool} program: ${cause}`);
  }
}

/**
 * A missing column is the program's mistake, unless it is the label column
 * and the training data does not have it: then perception picked the wrong
 * label, and the one column in train but not in test is the real one.
 */
function badColumnFix(input: NextStepInput, reduceLevel: number): NextStep {
  const { context, tool } = input;
  const missing = input.diagnosis.columns ?? [];
  const columnsOf = (file: string) => context.files.find((entry) => entry.path === file)?.columns.map((column) => column.name);
  const trainColumns = columnsOf(context.trainFile) ?? [];
  const testColumns = new Set(columnsOf(context.testFile) ?? []);
  if (missing.includes(context.labelColumn) && trainColumns.length > 0 && !trainColumns.includes(context.labelColumn)) {
    const candidates = trainColumns.filter((column) => !testColumns.has(column) && column !== context.idColumn);
    if (candidates.length === 1) {
      return fix(
        { tool, reduceLevel, labelColumn: candidates[0]! },
        `Use '${candidates[0]}' as the label column: '${context.labelColumn}' is not a column of the training data.`,
      );
    }
  }
  const hints = missing.map((column) => {
    const near = trainColumns.find((candidate) => normalize(candidate) === normalize(column));
    return near === undefined ? `'${column}' does not exist` : `'${column}' does not exist, the data has '${near}'`;
  });
  const known = trainColumns.length > 0 ? `; the training data has: ${trainColumns.join(", ")}` : "";
  const problem = hints.length > 0 ? hints.join("; ") : input.diagnosis.summary;
  return fix({ tool, reduceLevel }, `Use only columns the data has in the ${tool} program: ${problem}${known}`);
}

function normalize(column: string): string {
  return column.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/** Plans are one line, short enough for a log line and a prompt. */
const MAX_PLAN_CHARS = 400;

function fix(fields: { tool: string; reduceLevel: number; labelColumn?: string }, plan: string): NextStep {
  const line = plan.replace(/\s+/g, " ").trim();
  return {
    kind: "fix",
    fix: create(FixSchema, { ...fields, plan: line.length > MAX_PLAN_CHARS ? `${line.slice(0, MAX_PLAN_CHARS - 3)}...` : line }),
  };
}
