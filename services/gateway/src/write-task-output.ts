import { randomBytes } from "node:crypto";
import { cp, lstat, mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { durationMs, timestampDate } from "@bufbuild/protobuf/wkt";
import { ITERATION_FILES } from "@mlzero/program";
import { FailureCategory, ProblemType, TaskState, Verdict, type Task, type TaskContext, type TaskFinished } from "@mlzero/proto";
import { resolveInside, type TaskWorkspace } from "@mlzero/workspace";
import type { Stage } from "./stage-timings.js";

/** Name of the best program in the output folder. */
export const FINAL_PROGRAM_FILE = "program.py";

/** What {@link writeTaskOutput} produced. */
export interface TaskOutput {
  outputDir: string;
  /** Predictions file name inside outputDir; empty when the task did not succeed. */
  predictionsFile: string;
}

/** Options for {@link writeTaskOutput}. */
export interface WriteTaskOutputOptions {
  workspace: TaskWorkspace;
  task: Task;
  finished: TaskFinished;
  context: TaskContext | undefined;
  timings: Record<Stage, number>;
}

/**
 * Assembles a finished task's output folder: the predictions (named as the
 * task asks), the best program, every iteration's program and logs, and
 * report.json / report.md. The folder is built beside its place and renamed
 * into it, so a reader (or a gateway that restarts after dying in the
 * middle) sees the previous complete folder or the new one, never a part of
 * one; running it again for a redelivered event rebuilds it from scratch.
 */
export async function writeTaskOutput(options: WriteTaskOutputOptions): Promise<TaskOutput> {
  const { workspace } = options;
  const outputDir = workspace.outputDir;
  await removeLeftovers(outputDir);
  const staging = `${outputDir}${STAGING}${randomBytes(4).toString("hex")}`;
  await mkdir(staging, { recursive: true });
  const predictionsFile = await writeOutputFolder(options, staging);
  const previous = `${outputDir}${PREVIOUS}${randomBytes(4).toString("hex")}`;
  await rename(outputDir, previous).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error;
  });
  await rename(staging, outputDir);
  await rm(previous, { recursive: true, force: true });
  return { outputDir, predictionsFile };
}

/** Suffixes of the folders an output write uses beside the output folder. */
const STAGING = ".staging-";
const PREVIOUS = ".previous-";

/** Removes what an output write interrupted by a crash left beside the output folder. */
async function removeLeftovers(outputDir: string): Promise<void> {
  const parent = path.dirname(outputDir);
  const base = path.basename(outputDir);
  const entries = await readdir(parent).catch(() => []);
  await Promise.all(
    entries
      .filter((name) => name.startsWith(`${base}${STAGING}`) || name.startsWith(`${base}${PREVIOUS}`))
      .map((name) => rm(path.join(parent, name), { recursive: true, force: true })),
  );
}

/** Writes the output folder's content into `outputDir`; returns the predictions file name. */
async function writeOutputFolder(options: WriteTaskOutputOptions, outputDir: string): Promise<string> {
  const { workspace, finished } = options;

  let predictionsFile = "";
  if (finished.state === TaskState.SUCCEEDED && finished.predictionsPath) {
    predictionsFile = path.basename(finished.predictionsPath);
    await cp(resolveInside(workspace.taskDir, finished.predictionsPath), path.join(outputDir, predictionsFile));
    await writeFile(path.join(outputDir, FINAL_PROGRAM_FILE), finished.bestProgram?.code ?? "");
  }
  const iterations = await copyIterations(workspace, outputDir);
  const report = buildReport({ ...options, predictionsFile, iterations });
  await writeFile(path.join(outputDir, "report.json"), JSON.stringify(report, null, 2) + "\n");
  await writeFile(path.join(outputDir, "report.md"), renderMarkdown(report));
  return predictionsFile;
}

/** Copies each iteration's program and logs to `iterations/iter-NNN/`; returns the folder names. */
async function copyIterations(workspace: TaskWorkspace, outputDir: string): Promise<string[]> {
  const entries = await readdir(workspace.taskDir, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isDirectory() && /^iter-\d{3}$/.test(entry.name))
    .map((entry) => entry.name)
    .sort();
  for (const name of names) {
    const target = path.join(outputDir, "iterations", name);
    await mkdir(target, { recursive: true });
    for (const file of [ITERATION_FILES.program, ITERATION_FILES.stdout, ITERATION_FILES.stderr]) {
      const source = path.join(workspace.taskDir, name, file);
      // Only regular files: the program is untrusted and could have swapped a log for a link to anything.
      if (!(await lstat(source).catch(() => undefined))?.isFile()) continue;
      await cp(source, path.join(target, file));
    }
  }
  return names;
}

const STATUS: Partial<Record<TaskState, string>> = {
  [TaskState.SUCCEEDED]: "succeeded",
  [TaskState.FAILED]: "failed",
  [TaskState.CANCELLED]: "cancelled",
};

const PROBLEM: Partial<Record<ProblemType, string>> = {
  [ProblemType.BINARY]: "binary",
  [ProblemType.MULTICLASS]: "multiclass",
  [ProblemType.REGRESSION]: "regression",
};

/** The machine-readable report of a finished task (report.json). */
export interface TaskReport {
  task_id: string;
  status: string;
  reason: string;
  input: string;
  predictions: string | null;
  program: string | null;
  tool: string;
  iterations: number;
  metric: string;
  validation_score: number | null;
  perception: {
    train_file: string;
    test_file: string;
    label_column: string;
    id_column: string;
    problem_type: string;
    output_file: string;
    output_columns: string[];
    tools: string[];
    inferences: { field: string; value: string; evidence: string }[];
  } | null;
  history: {
    iteration: number;
    tool: string;
    verdict: string;
    failure: string;
    analysis: string;
    score: number | null;
    seconds: number;
  }[];
  /** What each LLM agent used, in the order the agents first called (empty on the offline planner). */
  llm_usage: LlmUsageEntry[];
  /** The agents' usage together. */
  llm_totals: { calls: number; prompt_tokens: number; completion_tokens: number; tokens: number; cost_usd: number };
  timings_seconds: Record<Stage | "total", number>;
  created_at: string;
  finished_at: string;
  iteration_folders: string[];
}

/** One agent's LLM calls over the whole task. */
export interface LlmUsageEntry {
  agent: string;
  calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
}

function buildReport(options: WriteTaskOutputOptions & { predictionsFile: string; iterations: string[] }): TaskReport {
  const { task, finished, context, timings } = options;
  const perception = context?.perception ?? finished.task?.perception;
  const attempts = finished.task?.attempts ?? context?.attempts ?? [];
  const createdAt = task.createdAt ? timestampDate(task.createdAt) : new Date();
  const finishedAt = new Date();
  const seconds = (ms: number) => Math.round(ms) / 1000;
  const llmUsage = task.llmUsage.map((usage) => ({
    agent: usage.agent,
    calls: usage.calls,
    prompt_tokens: Number(usage.promptTokens),
    completion_tokens: Number(usage.completionTokens),
    cost_usd: usage.costUsd,
  }));
  const total = (field: "calls" | "prompt_tokens" | "completion_tokens" | "cost_usd") =>
    llmUsage.reduce((sum, entry) => sum + entry[field], 0);
  return {
    task_id: task.taskId,
    status: STATUS[finished.state] ?? "unknown",
    reason: finished.reason,
    input: task.spec?.inputUri ?? "",
    predictions: options.predictionsFile || null,
    program: options.predictionsFile ? FINAL_PROGRAM_FILE : null,
    tool: finished.bestProgram?.tool || attempts.at(-1)?.tool || "",
    iterations: attempts.length,
    metric: finished.metric || perception?.metric?.name || "",
    validation_score: finished.score ?? null,
    perception: perception
      ? {
          train_file: perception.trainFile,
          test_file: perception.testFile,
          label_column: perception.labelColumn,
          id_column: perception.idColumn,
          problem_type: PROBLEM[perception.problemType] ?? "unknown",
          output_file: perception.output?.fileName ?? "",
          output_columns: [...(perception.output?.columns ?? [])],
          tools: perception.tools.map((tool) => tool.name),
          inferences: perception.inferences.map(({ field, value, evidence }) => ({ field, value, evidence })),
        }
      : null,
    history: attempts.map((attempt) => ({
      iteration: attempt.iteration,
      tool: attempt.tool,
      verdict: Verdict[attempt.verdict] ?? "UNSPECIFIED",
      failure: FailureCategory[attempt.failure] ?? "UNSPECIFIED",
      analysis: attempt.analysis,
      score: attempt.score ?? null,
      seconds: attempt.duration ? seconds(durationMs(attempt.duration)) : 0,
    })),
    llm_usage: llmUsage,
    llm_totals: {
      calls: total("calls"),
      prompt_tokens: total("prompt_tokens"),
      completion_tokens: total("completion_tokens"),
      tokens: total("prompt_tokens") + total("completion_tokens"),
      cost_usd: total("cost_usd"),
    },
    timings_seconds: {
      perception: seconds(timings.perception),
      coding: seconds(timings.coding),
      execution: seconds(timings.execution),
      analysis: seconds(timings.analysis),
      total: seconds(finishedAt.getTime() - createdAt.getTime()),
    },
    created_at: createdAt.toISOString(),
    finished_at: finishedAt.toISOString(),
    iteration_folders: options.iterations,
  };
}

/** "9 calls, 5400 tokens (4800 prompt, 600 completion), $0.0120: perception 1 call 340 tokens $0.0005, ..."; "no calls" without any. */
function llmLine(report: TaskReport): string {
  const t = report.llm_totals;
  if (report.llm_usage.length === 0) return "no calls";
  const calls = (n: number) => `${n} call${n === 1 ? "" : "s"}`;
  const agents = report.llm_usage.map(
    (entry) => `${entry.agent} ${calls(entry.calls)} ${entry.prompt_tokens + entry.completion_tokens} tokens $${entry.cost_usd.toFixed(4)}`,
  );
  return `${calls(t.calls)}, ${t.tokens} tokens (${t.prompt_tokens} prompt, ${t.completion_tokens} completion), $${t.cost_usd.toFixed(4)}: ${agents.join(", ")}`;
}

function renderMarkdown(report: TaskReport): string {
  const lines = [
    `# mlzero task ${report.task_id}: ${report.status}`,
    "",
    report.reason ? `${report.reason}\n` : "",
    `- input: \`${report.input}\``,
    `- predictions: ${report.predictions ? `\`${report.predictions}\`` : "none"}`,
    `- program: ${report.program ? `\`${report.program}\`` : "none"}`,
    `- tool: ${report.tool || "none"}`,
    `- validation ${report.metric || "score"}: ${report.validation_score === null ? "not reported" : report.validation_score.toFixed(4)}`,
    `- iterations: ${report.iterations}`,
    `- LLM: ${llmLine(report)}`,
    "",
  ];
  if (report.perception) {
    const p = report.perception;
    lines.push(
      "## What perception found",
      "",
      `- train \`${p.train_file}\`, test \`${p.test_file}\``,
      `- label \`${p.label_column}\` (${p.problem_type}), id \`${p.id_column || "none"}\``,
      `- output \`${p.output_file}\` with columns ${p.output_columns.map((column) => `\`${column}\``).join(", ")}`,
      `- tools, best first: ${p.tools.join(", ")}`,
      "",
      ...p.inferences.map((inference) => `- ${inference.field} = \`${inference.value}\`: ${inference.evidence}`),
      "",
    );
  }
  lines.push("## Iterations", "", "| # | tool | verdict | failure | score | seconds | analysis |", "|---|---|---|---|---|---|---|");
  for (const entry of report.history) {
    const analysis = entry.analysis.replace(/\|/g, "\\|").replace(/\s+/g, " ");
    lines.push(
      `| ${entry.iteration} | ${entry.tool} | ${entry.verdict} | ${entry.failure} | ${entry.score === null ? "" : entry.score.toFixed(4)} | ${entry.seconds} | ${analysis} |`,
    );
  }
  const t = report.timings_seconds;
  lines.push(
    "",
    "## Time (seconds)",
    "",
    `perception ${t.perception} · coding ${t.coding} · execution ${t.execution} · analysis ${t.analysis} · total ${t.total}`,
    "",
  );
  return lines.join("\n");
}
