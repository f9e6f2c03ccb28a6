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
  /** The `--parallelism` every task ran with, when one was given. */
  parallelism?: number;
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
    `${facts.date}, ${facts.machine}; \`${mlzeroCommand(facts.timeLimitSeconds, facts.parallelism)}\` per task, one at a time; ${fixed(facts.totalSeconds, 0)} s in all.`,
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

/** The runs of the suite at one `--parallelism`, in the suite's task order. */
export interface SuiteMode {
  parallelism: number;
  runs: TaskRun[];
}

/** What a mode is called in the reports. */
export function modeLabel(parallelism: number): string {
  return parallelism === 1 ? "single loop" : `parallel search (${parallelism} at once)`;
}

/** The command each task ran with. */
function mlzeroCommand(timeLimitSeconds: number, parallelism?: number): string {
  return `mlzero run --time-limit ${timeLimitSeconds}${parallelism === undefined ? "" : ` --parallelism ${parallelism}`}`;
}

/** The suite's totals of every mode side by side, a row per figure and a column per mode. */
export function comparisonTotalsTable(modes: readonly SuiteMode[]): string {
  const totals = modes.map((mode) => suiteTotals(mode.runs));
  const row = (figure: string, cell: (total: SuiteTotals, mode: SuiteMode) => string) => [
    figure,
    ...totals.map((total, index) => cell(total, modes[index]!)),
  ];
  return markdownTable(
    ["", ...modes.map((mode) => `${modeLabel(mode.parallelism)}: --parallelism ${mode.parallelism}`)],
    [
      row("success rate", (total) => `${total.succeeded}/${total.tasks} (${fixed(total.successRate * 100, 0)} %)`),
      row("mean normalised score (a failed task counts 0)", (total) => fixed(total.meanNormalised, 3)),
      row("mean normalised score of the tasks that succeeded", (total) => fixed(total.meanNormalisedOfSucceeded ?? undefined, 3)),
      row(`tasks below ${GOOD_ENOUGH}`, (total) => String(total.below.length)),
      row("wall time per task, median (s)", (total) => fixed(total.medianWallSeconds, 1)),
      row("wall time per task, max (s)", (total) => fixed(total.maxWallSeconds, 1)),
      row("wall time, all tasks (s)", (_, mode) => fixed(sum(mode.runs.map((run) => run.wallSeconds)), 0)),
      row("iterations, all tasks", (_, mode) => String(sum(mode.runs.map((run) => run.iterations)))),
    ],
  );
}

/**
 * Every task's outcome in every mode side by side: normalised score, score,
 * iterations, tool and wall time, each with a column per mode; against the
 * first mode, the change of the normalised score and the ratio of wall times.
 */
export function comparisonTable(modes: readonly SuiteMode[]): string {
  const [base, ...others] = modes;
  if (!base) return "";
  const tag = (mode: SuiteMode) => `p=${mode.parallelism}`;
  const each = (title: string) => modes.map((mode) => `${title} ${tag(mode)}`);
  const headers = [
    "task",
    "modality",
    "metric",
    ...each("normalised"),
    ...others.map((mode) => `Δ normalised ${tag(mode)}`),
    ...each("score"),
    ...each("iterations"),
    ...each("tool"),
    ...each("wall (s)"),
    ...others.map((mode) => `wall ${tag(mode)} / ${tag(base)}`),
    "why not",
  ];
  const rows = base.runs.map((first, index) => {
    const runs = modes.map((mode) => mode.runs[index]!);
    const normalised = (run: TaskRun) => (run.success ? run.normalised! : 0);
    const reasons = runs.flatMap((run, at) => (run.success ? [] : [`${tag(modes[at]!)}: ${run.reason || run.status}`]));
    return [
      first.name,
      first.modality,
      `${first.metric} ${first.greaterIsBetter ? "↑" : "↓"}`,
      ...runs.map((run) => (run.success ? fixed(run.normalised!, 2) : "failed")),
      ...runs.slice(1).map((run) => signed(normalised(run) - normalised(first), 2)),
      ...runs.map((run) => formatScore(run.score)),
      ...runs.map((run) => String(run.iterations)),
      ...runs.map((run) => run.tool || "–"),
      ...runs.map((run) => fixed(run.wallSeconds, 1)),
      ...runs.slice(1).map((run) => fixed(run.wallSeconds / first.wallSeconds, 2)),
      reasons.join("; ").replaceAll("|", "\\|").replaceAll("\n", " ").slice(0, 300),
    ];
  });
  return markdownTable(headers, rows);
}

/** Writes report.json, report.md and the plot of a comparison of modes (see {@link comparisonTable}). */
export async function writeComparisonReports(
  outRoot: string,
  modes: readonly SuiteMode[],
  specs: readonly TaskSpec[],
  facts: RunFacts,
): Promise<{ plot: string | null }> {
  const report = {
    ...facts,
    goodEnough: GOOD_ENOUGH,
    // One entry per mode, in the order of each task's `runs`.
    compare: modes.map((mode) => ({ parallelism: mode.parallelism, label: modeLabel(mode.parallelism), totals: suiteTotals(mode.runs) })),
    tasks: (modes[0]?.runs ?? []).map((first, index) => ({
      name: first.name,
      modality: first.modality,
      metric: first.metric,
      greaterIsBetter: first.greaterIsBetter,
      trivial: first.trivial,
      reference: first.reference,
      runs: modes.map((mode) => mode.runs[index]!),
    })),
    suite: specs,
  };
  await writeFile(path.join(outRoot, "report.json"), JSON.stringify(report, null, 2));
  const plot = await drawPlot(path.join(outRoot, "report.json"), path.join(outRoot, "normalised-scores.png"));
  const flags = modes.map((mode) => `--parallelism ${mode.parallelism}`).join(", then ");
  const markdown = [
    "# mlzero on the benchmark task suite: single loop and parallel search",
    "",
    `${facts.date}, ${facts.machine}; \`${mlzeroCommand(facts.timeLimitSeconds)}\` per task, once with each of ${flags} ` +
      `(the order reversed every other task), one run at a time; ${fixed(facts.totalSeconds, 0)} s in all.`,
    "",
    "Normalised score = (score − trivial) / (reference − trivial): 0 is the trivial baseline (majority class, class priors, " +
      "the training mean or median, seasonal-naive), 1 the reference model computed when the task was generated. " +
      "Wall time is the whole `mlzero run` process, from start to exit.",
    "",
    comparisonTotalsTable(modes),
    "",
    comparisonTable(modes),
    "",
    plot ? `![normalised score per task and mode](${path.basename(plot)})` : "(no plot: matplotlib did not run; see the console)",
    "",
    "## The tasks",
    "",
    suiteTable(specs),
    "",
  ].join("\n");
  await writeFile(path.join(outRoot, "report.md"), markdown);
  return { plot };
}

/** A difference with its sign. */
function signed(value: number, digits: number): string {
  const text = fixed(value, digits);
  return value > 0 ? `+${text}` : text;
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
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
