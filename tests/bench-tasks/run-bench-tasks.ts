import { mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "../support/run-cli.js";
import { fixed } from "../bench/stats.js";
import {
  comparisonTable,
  comparisonTotalsTable,
  formatScore,
  modeLabel,
  resultsTable,
  suiteTotals,
  totalsLines,
  writeComparisonReports,
  writeReports,
  type SuiteMode,
} from "./report.js";
import { runTask, type TaskRun } from "./run-task.js";
import { ensureSuite } from "./suite.js";

/**
 * `make bench-tasks`: every task of the suite through `mlzero run`, one
 * process per task, one task at a time; each graded on its hidden answers
 * and set between its trivial baseline and its reference score. Writes
 * out/bench-tasks/report.json, report.md and normalised-scores.png; each
 * run's output folder and log under out/bench-tasks/runs/.
 *
 * Options: --only NAME|MODALITY[,...]   --time-limit SECONDS (per task, default 600)   --tool NAME (passed to mlzero)
 * --parallelism N[,N...]: candidate programs run at once in each round (mlzero's --parallelism); with
 * more than one value (e.g. 1,3) every task runs once with each, and the reports set the scores and
 * wall times side by side (`make bench-tasks COMPARE_PARALLELISM=3`).
 */
const { values } = parseArgs({
  options: {
    only: { type: "string" },
    "time-limit": { type: "string", default: "600" },
    tool: { type: "string" },
    parallelism: { type: "string" },
    out: { type: "string", default: path.join(REPO_ROOT, "out", "bench-tasks") },
  },
});
const timeLimitSeconds = Number(values["time-limit"]);
if (!(timeLimitSeconds > 0)) throw new Error(`--time-limit must be a positive number of seconds, got ${values["time-limit"]}`);
const outRoot = path.resolve(values.out);
const parallelism = values.parallelism === undefined ? undefined : parallelismList(values.parallelism);
const started = performance.now();

console.log("generating the task suite (cached in .cache/bench-tasks until the generator changes)...");
const suite = await ensureSuite();
const wanted = values.only
  ?.split(",")
  .map((item) => item.trim())
  .filter(Boolean);
const tasks = wanted ? suite.filter((task) => wanted.includes(task.spec.name) || wanted.includes(task.spec.modality)) : suite;
const unknown = (wanted ?? []).filter((item) => !suite.some((task) => task.spec.name === item || task.spec.modality === item));
if (unknown.length > 0 || tasks.length === 0) {
  throw new Error(`--only: no task or modality ${unknown.join(", ")}; tasks: ${suite.map((task) => task.spec.name).join(", ")}`);
}

await mkdir(path.join(outRoot, "runs"), { recursive: true });
const cpus = os.cpus();
const machine = `${cpus.length} × ${cpus[0]?.model ?? "unknown CPU"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`;
const specs = tasks.map((task) => task.spec);
const args = values.tool ? ["--tool", values.tool] : [];

if (parallelism === undefined || parallelism.length === 1) {
  const runs: TaskRun[] = [];
  for (const [index, task] of tasks.entries()) {
    const run = await runTask(task, path.join(outRoot, "runs", task.spec.name), {
      timeLimitSeconds,
      ...(parallelism ? { parallelism: parallelism[0] } : {}),
      args,
    });
    runs.push(run);
    console.log(`[${index + 1}/${tasks.length}] ${task.spec.name}: ${outcome(run)}`);
  }
  const totalSeconds = (performance.now() - started) / 1000;
  const { plot } = await writeReports(outRoot, runs, specs, {
    date: new Date().toISOString(),
    totalSeconds,
    timeLimitSeconds,
    machine,
    args: process.argv.slice(2),
    ...(parallelism ? { parallelism: parallelism[0] } : {}),
  });
  console.log(`\n${resultsTable(runs)}\n\n${totalsLines(suiteTotals(runs))}\n`);
  finish(totalSeconds, plot);
} else {
  // Each task once per mode, one run at a time; every other task takes the modes in reverse, so
  // neither mode always runs first (on a cold cache) or right after the other.
  const modes: SuiteMode[] = parallelism.map((value) => ({ parallelism: value, runs: [] }));
  for (const [index, task] of tasks.entries()) {
    const order = index % 2 === 0 ? modes : [...modes].reverse();
    for (const mode of order) {
      const run = await runTask(task, path.join(outRoot, "runs", `${task.spec.name}.p${mode.parallelism}`), {
        timeLimitSeconds,
        parallelism: mode.parallelism,
        args,
      });
      mode.runs[index] = run;
      console.log(`[${index + 1}/${tasks.length}] ${task.spec.name}, ${modeLabel(mode.parallelism)}: ${outcome(run)}`);
    }
  }
  const totalSeconds = (performance.now() - started) / 1000;
  const { plot } = await writeComparisonReports(outRoot, modes, specs, {
    date: new Date().toISOString(),
    totalSeconds,
    timeLimitSeconds,
    machine,
    args: process.argv.slice(2),
  });
  console.log(`\n${comparisonTotalsTable(modes)}\n\n${comparisonTable(modes)}\n`);
  finish(totalSeconds, plot);
}

/** One run in a line: its graded score or why it failed, iterations and wall time. */
function outcome(run: TaskRun): string {
  const graded = run.success
    ? `${run.metric} ${formatScore(run.score)} (trivial ${formatScore(run.trivial)}, reference ${formatScore(run.reference)}), normalised ${fixed(run.normalised!, 2)}`
    : `failed: ${run.reason}`;
  return `${graded}; ${run.iterations} iteration(s), ${fixed(run.wallSeconds, 1)} s`;
}

function finish(totalSeconds: number, plot: string | null): void {
  console.log(`${fixed(totalSeconds, 0)} s in all. Reports: ${path.relative(REPO_ROOT, path.join(outRoot, "report.md"))}, report.json`);
  if (plot) console.log(`plot: ${path.relative(REPO_ROOT, plot)}`);
}

/** `--parallelism 3` or `1,3`: distinct positive whole numbers, in the order given. */
function parallelismList(raw: string): number[] {
  const list = raw.split(",").map((item) => Number(item.trim()));
  if (list.length === 0 || list.some((value) => !Number.isInteger(value) || value < 1)) {
    throw new Error(`--parallelism must be positive whole numbers separated by commas, got ${raw}`);
  }
  return [...new Set(list)];
}
