import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "../support/run-cli.js";
import { fixed, markdownTable, median } from "../bench/stats.js";
import type { TaskRun } from "./run-task.js";
import { pythonBin, type TaskSpec } from "./suite.js";

/** A task at or above this normalised score does about as well as a competent solution. */
export const GOOD_ENOUGH = 0.6;

export interface SuiteTotals {
  tasks: number;
  succeeded: number;
  successRate: number;
  /** Over every task, a failed one counting 0 (the trivial baseline). */
  meanNormalised: number;
  /** Over the tasks that succeeded. */
  meanNormalisedOfSucceeded: number | null;
  /** Tasks under {@link GOOD_ENOUGH}, failures included. */
  below: string[];
  medianWallSeconds: number;
  maxWallSeconds: number;
}

/** What the report says about the run as a whole. */
export interface RunFacts {
  date: string;
  totalSeconds: number;
  timeLimitSeconds: number;
  machine: string;
  args: string[];
}

export function suiteTotals(runs: readonly TaskRun[]): SuiteTotals {
  const succeeded = runs.filter((run) => run.success);
  const normalised = runs.map((run) => (run.success ? run.normalised! : 0));
  const walls = runs.map((run) => run.wallSeconds);
  return {
    tasks: runs.length,
    succeeded: succeeded.length,
    successRate: runs.length === 0 ? 0 : succeeded.length / runs.length,
    meanNormalised: mean(normalised),
    meanNormalisedOfSucceeded: succeeded.length === 0 ? null : mean(succeeded.map((run) => run.normalised!)),
    below: runs.filter((_, index) => normalised[index]! < GOOD_ENOUGH).map((run) => run.name),
    medianWallSeconds: median(walls),
    maxWallSeconds: walls.length === 0 ? Number.NaN : Math.max(...walls),
  };
}

/** A score with digits that suit its size. */
export function formatScore(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  return fixed(value, Math.abs(value) >= 100 ? 1 : 4);
}

export function resultsTable(runs: readonly TaskRun[]): string {
  return markdownTable(
    ["task", "modality", "metric", "success", "score", "trivial", "reference", "normalised", "iterations", "tool", "wall (s)", "why not"],
    runs.map((run) => [
      run.name,
      run.modality,
      `${run.metric} ${run.greaterIsBetter ? "↑" : "↓"}`,
      run.success ? "yes" : "no",
      formatScore(run.score),
      formatScore(run.trivial),
      formatScore(run.reference),
      fixed(run.normalised ?? undefined, 2),
      String(run.iterations),
      run.tool || "–",
      fixed(run.wallSeconds, 1),
      run.reason.replaceAll("|", "\\|").replaceAll("\n", " ").slice(0, 200),
    ]),
  );
}

export function totalsLines(totals: SuiteTotals): string {
  return [
    `- success rate: ${totals.succeeded}/${totals.tasks} (${fixed(totals.successRate * 100, 0)} %)`,
    `- mean normalised score: ${fixed(totals.meanNormalised, 3)} (a failed task counts 0); over the tasks that succeeded: ${fixed(totals.meanNormalisedOfSucceeded ?? undefined, 3)}`,
    `- tasks below ${GOOD_ENOUGH}: ${totals.below.length}${totals.below.length > 0 ? ` (${totals.below.join(", ")})` : ""}`,
    `- wall time per task: median ${fixed(totals.medianWallSeconds, 1)} s, max ${fixed(totals.maxWallSeconds, 1)} s`,
  ].join("\n");
}

/** What each task is: where its data comes from, its form, and how its two baselines were made. */
export function suiteTable(specs: readonly TaskSpec[]): string {
  return markdownTable(
    ["task", "modality", "type", "source", "input form", "metric", "trivial baseline", "reference model"],
    specs.map((spec) => [
      spec.name,
      spec.modality,
      spec.problem_type,
      spec.source,
      spec.form,
      spec.metric,
      `${spec.trivial.method}: ${formatScore(spec.trivial.score)}`,
      `${spec.reference.model}: ${formatScore(spec.reference.score)}`,
    ]),
  );
}

/** Writes report.json, report.md and the plot (normalised-scores.png) to `outRoot`. */
export async function writeReports(
  outRoot: string,
  runs: readonly TaskRun[],
  specs: readonly TaskSpec[],
  facts: RunFacts,
): Promise<{ plot: string | null }> {
  const totals = suiteTotals(runs);
  const report = { ...facts, goodEnough: GOOD_ENOUGH, totals, tasks: runs, suite: specs };
  await writeFile(path.join(outRoot, "report.json"), JSON.stringify(report, null, 2));
  const plot = await drawPlot(path.join(outRoot, "report.json"), path.join(outRoot, "normalised-scores.png"));
  const markdown = [
    "# mlzero on the benchmark task suite",
    "",
    `${facts.date}, ${facts.machine}; \`mlzero run --time-limit ${facts.timeLimitSeconds}\` per task, one at a time; ${fixed(facts.totalSeconds, 0)} s in all.`,
    "",
    "Normalised score = (score − trivial) / (reference − trivial): 0 is the trivial baseline (majority class, class priors, " +
      "the training mean or median, seasonal-naive), 1 the reference model computed when the task was generated.",
    "",
    totalsLines(totals),
    "",
    resultsTable(runs),
    "",
    plot ? `![normalised score per task](${path.basename(plot)})` : "(no plot: matplotlib did not run; see the console)",
    "",
    "## The tasks",
    "",
    suiteTable(specs),
    "",
  ].join("\n");
  await writeFile(path.join(outRoot, "report.md"), markdown);
  return { plot };
}

/** The bar chart, drawn by plot.py with the project's matplotlib; null when it cannot be drawn. */
async function drawPlot(reportFile: string, pngFile: string): Promise<string | null> {
  try {
    await promisify(execFile)(pythonBin(), ["-B", path.join(REPO_ROOT, "tests", "bench-tasks", "plot.py"), reportFile, pngFile], {
      env: { ...process.env, MPLBACKEND: "Agg" },
    });
    return pngFile;
  } catch (error) {
    console.warn(`the plot was not drawn: ${(error as Error).message.split("\n").slice(0, 3).join(" ")}`);
    return null;
  }
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;
}
