import path from "node:path";
import { durationMs, timestampMs, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { InvalidInputError } from "@mlzero/errors";
import { TASK_STATE_NAMES, taskStateNamed } from "@mlzero/gateway";
import { FailureCategory, ProblemType, TaskState, Verdict, type LlmUsage, type Task } from "@mlzero/proto";
import type { CommandIo } from "./cli-command.js";

/** A state as a user reads it: "succeeded". */
export function stateName(state: TaskState): string {
  return enumName(TaskState, state);
}

/** The state a user named, case-insensitive. */
export function parseState(name: string): TaskState {
  const state = taskStateNamed(name.trim());
  if (state === undefined)
    throw new InvalidInputError(`--state must be one of ${TASK_STATE_NAMES.join(", ")}, got ${JSON.stringify(name)}`);
  return state;
}

/** True once a task can change no more. */
export function isFinished(task: Task): boolean {
  return task.state === TaskState.SUCCEEDED || task.state === TaskState.FAILED || task.state === TaskState.CANCELLED;
}

/**
 * Says how a finished task ended: what succeeded and where its predictions
 * are on stdout, or why not as one line on stderr; then its output folder.
 * Returns the exit code: 0 when it succeeded, 1 otherwise.
 */
export function reportOutcome(task: Task, io: CommandIo): number {
  if (task.state === TaskState.SUCCEEDED) {
    const score = task.bestScore !== undefined ? `, validation ${task.metric} ${task.bestScore.toFixed(4)}` : "";
    io.stdout.write(`succeeded with ${task.tool} in ${task.iterations.length} iteration(s)${score}\n`);
    if (task.outputDir && task.predictionsFile) io.stdout.write(`predictions: ${path.join(task.outputDir, task.predictionsFile)}\n`);
  } else {
    io.stderr.write(`mlzero: task ${task.taskId} ${stateName(task.state)}: ${task.message}\n`);
  }
  io.stdout.write(llmUsageText(task.llmUsage));
  if (task.outputDir) {
    io.stdout.write(`report: ${path.join(task.outputDir, "report.md")}\n`);
    io.stdout.write(`output: ${task.outputDir}\n`);
  }
  return task.state === TaskState.SUCCEEDED ? 0 : 1;
}

/** `mlzero status`: the task's fields as aligned lines, then its iterations as a table. */
export function statusText(task: Task, nowMs = Date.now()): string {
  const created = task.createdAt ? timestampMs(task.createdAt) : undefined;
  const ended = task.finishedAt ? timestampMs(task.finishedAt) : nowMs;
  const budget = task.spec?.budget;
  const fields: [string, string][] = [
    ["task", task.taskId],
    ["state", stateName(task.state)],
    ["message", task.message],
    ["input", task.spec?.inputUri ?? ""],
    ["iteration", task.iteration ? `${task.iteration}${budget?.maxIterations ? ` of at most ${budget.maxIterations}` : ""}` : ""],
    ["problem", problemText(task)],
    ["tool", task.tool],
    ["score", task.bestScore !== undefined ? `${task.metric} ${task.bestScore.toFixed(4)}` : ""],
    ["created", created !== undefined ? formatTime(task.createdAt) : ""],
    ["finished", formatTime(task.finishedAt)],
    ["elapsed", created !== undefined ? formatSeconds(ended - created) : ""],
    ["output", task.outputDir],
    ["predictions", task.outputDir && task.predictionsFile ? path.join(task.outputDir, task.predictionsFile) : ""],
    ["timings", task.timings.map((timing) => `${timing.stage} ${formatDuration(timing.duration)}`).join(", ")],
    ["llm", task.llmUsage.length > 0 ? llmTotalsText(task.llmUsage) : ""],
  ];
  const shown = fields.filter(([, value]) => value !== "");
  const width = Math.max(...shown.map(([name]) => name.length));
  const lines = shown.map(([name, value]) => `${name.padEnd(width)}  ${value}`);
  if (task.iterations.length > 0) {
    lines.push("", "iterations:");
    const rows = task.iterations.map((summary) => [
      String(summary.iteration),
      summary.tool || "-",
      enumName(Verdict, summary.verdict) || "-",
      summary.failure === FailureCategory.NONE ? "-" : enumName(FailureCategory, summary.failure) || "-",
      summary.score !== undefined ? summary.score.toFixed(4) : "-",
      formatDuration(summary.duration) || "-",
      truncate(summary.analysis, 100),
    ]);
    lines.push(...table(["#", "TOOL", "VERDICT", "FAILURE", "SCORE", "TIME", "ANALYSIS"], rows).map((line) => `  ${line}`));
  }
  if (task.llmUsage.length > 0) lines.push("", "llm usage:", ...llmUsageTable(task.llmUsage).map((line) => `  ${line}`));
  return `${lines.join("\n")}\n`;
}

/**
 * What the task's LLM agents used, for a finished task's summary: a totals
 * line, then one row per agent; "" when no agent called an LLM (the offline
 * planner).
 */
export function llmUsageText(usages: LlmUsage[]): string {
  if (usages.length === 0) return "";
  return `llm: ${llmTotalsText(usages)}\n${llmUsageTable(usages)
    .map((line) => `  ${line}\n`)
    .join("")}`;
}

/** "9 calls, 5400 tokens (4800 prompt, 600 completion), $0.0120". */
function llmTotalsText(usages: LlmUsage[]): string {
  let calls = 0;
  let prompt = 0n;
  let completion = 0n;
  let cost = 0;
  for (const usage of usages) {
    calls += usage.calls;
    prompt += usage.promptTokens;
    completion += usage.completionTokens;
    cost += usage.costUsd;
  }
  return `${calls} call${calls === 1 ? "" : "s"}, ${prompt + completion} tokens (${prompt} prompt, ${completion} completion), ${formatUsd(cost)}`;
}

/** One row per agent: calls, tokens and cost. */
function llmUsageTable(usages: LlmUsage[]): string[] {
  const rows = usages.map((usage) => [
    usage.agent,
    String(usage.calls),
    String(usage.promptTokens),
    String(usage.completionTokens),
    formatUsd(usage.costUsd),
  ]);
  return table(["AGENT", "CALLS", "PROMPT", "COMPLETION", "COST"], rows);
}

/** "$0.0123": LLM calls cost fractions of a cent. */
function formatUsd(value: number): string {
  return `$${value.toFixed(4)}`;
}

/** `mlzero ls`: one row per task. */
export function tasksTable(tasks: Task[]): string {
  const rows = tasks.map((task) => [
    task.taskId,
    stateName(task.state),
    task.iteration ? String(task.iteration) : "-",
    task.tool || "-",
    task.bestScore !== undefined ? task.bestScore.toFixed(4) : "-",
    formatTime(task.createdAt) || "-",
    task.spec?.inputUri ?? "",
  ]);
  return `${table(["TASK", "STATE", "ITER", "TOOL", "SCORE", "CREATED", "INPUT"], rows).join("\n")}\n`;
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
function table(header: string[], rows: string[][]): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column]!.length)));
  return all.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join("  ")
      .trimEnd(),
  );
}

/** "binary, label churn". */
function problemText(task: Task): string {
  const kind = task.problemType === ProblemType.UNSPECIFIED ? "" : enumName(ProblemType, task.problemType);
  const label = task.labelColumn ? `label ${task.labelColumn}` : "";
  return [kind, label].filter(Boolean).join(", ");
}

/** A generated enum's value name, lower case: `Verdict.GIVE_UP` -> "give_up"; "" for UNSPECIFIED. */
function enumName(values: Record<number, string>, value: number): string {
  const name = values[value];
  return name === undefined || name === "UNSPECIFIED" ? "" : name.toLowerCase();
}

/** UTC, to the second: "2025-11-27 00:54:12Z". */
function formatTime(time: Timestamp | undefined): string {
  if (!time) return "";
  return new Date(timestampMs(time))
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
}

function formatDuration(duration: Duration | undefined): string {
  return duration ? formatSeconds(durationMs(duration)) : "";
}

/** "0.4 s", "12.3 s", "4 min 05 s". */
function formatSeconds(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
}

function truncate(text: string, length: number): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > length ? `${line.slice(0, length - 1)}…` : line;
}
