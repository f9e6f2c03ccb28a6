import { mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "../support/run-cli.js";
import { fixed } from "../bench/stats.js";
import { formatScore, resultsTable, suiteTotals, totalsLines, writeReports } from "./report.js";
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
 */
const { values } = parseArgs({
  options: {
    only: { type: "string" },
    "time-limit": { type: "string", default: "600" },
    tool: { type: "string" },
    out: { type: "string", default: path.join(REPO_ROOT, "out", "bench-tasks") },
  },
});
const timeLimitSeconds = Number(values["time-limit"]);
if (!(timeLimitSeconds > 0)) throw new Error(`--time-limit must be a positive number of seconds, got ${values["time-limit"]}`);
const outRoot = path.resolve(values.out);
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
const runs: TaskRun[] = [];
for (const [index, task] of tasks.entries()) {
  const run = await runTask(task, path.join(outRoot, "runs", task.spec.name), {
    timeLimitSeconds,
    args: values.tool ? ["--tool", values.tool] : [],
  });
  runs.push(run);
  const outcome = run.success
    ? `${run.metric} ${formatScore(run.score)} (trivial ${formatScore(run.trivial)}, reference ${formatScore(run.reference)}), normalised ${fixed(run.normalised!, 2)}`
    : `failed: ${run.reason}`;
  console.log(
    `[${index + 1}/${tasks.length}] ${task.spec.name}: ${outcome}; ${run.iterations} iteration(s), ${fixed(run.wallSeconds, 1)} s`,
  );
}

const totalSeconds = (performance.now() - started) / 1000;
const cpus = os.cpus();
const specs = tasks.map((task) => task.spec);
const { plot } = await writeReports(outRoot, runs, specs, {
  date: new Date().toISOString(),
  totalSeconds,
  timeLimitSeconds,
  machine: `${cpus.length} × ${cpus[0]?.model ?? "unknown CPU"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
  args: process.argv.slice(2),
});
console.log(`\n${resultsTable(runs)}\n\n${totalsLines(suiteTotals(runs))}\n`);
console.log(`${fixed(totalSeconds, 0)} s in all. Reports: ${path.relative(REPO_ROOT, path.join(outRoot, "report.md"))}, report.json`);
if (plot) console.log(`plot: ${path.relative(REPO_ROOT, plot)}`);
