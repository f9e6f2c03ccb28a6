import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { generateChurnTask, generateHousePriceTask, generateSpeciesTask, type GeneratedTask } from "../support/generate-tasks.js";
import { NODE_BIN, REPO_ROOT } from "../support/run-cli.js";
import { samplePeakMemory } from "./process-tree-memory.js";

/**
 * `make bench`: wall time and peak memory of `mlzero run` on each
 * end-to-end task, the whole process tree (Node and the Python program)
 * sampled from /proc. Results go to stdout and out/bench/results.json.
 */
interface BenchCase {
  name: string;
  task: (root: string) => Promise<GeneratedTask>;
  args: string[];
}

const CASES: BenchCase[] = [
  { name: "binary (churn, CSV, AUC)", task: (root) => generateChurnTask(root), args: [] },
  { name: "regression (houses, JSONL)", task: (root) => generateHousePriceTask(root), args: [] },
  { name: "multiclass (birds, no description)", task: (root) => generateSpeciesTask(root), args: [] },
  {
    name: "fix loop (xgboost absent, then fallback)",
    task: (root) => generateChurnTask(path.join(root, "fix")),
    args: ["--tool", "xgboost"],
  },
  { name: "binary with lightgbm", task: (root) => generateChurnTask(path.join(root, "lgbm")), args: ["--tool", "lightgbm"] },
];

async function runCase(benchCase: BenchCase, root: string, outRoot: string) {
  const task = await benchCase.task(root);
  const out = path.join(outRoot, benchCase.name.split(" ")[0]! + "-" + CASES.indexOf(benchCase));
  const started = Date.now();
  const child = spawn(NODE_BIN, [path.join(REPO_ROOT, "cli/dist/main.js"), "run", task.inputDir, "--out", out, ...benchCase.args], {
    stdio: ["ignore", "ignore", "ignore"],
  });
  const sampler = samplePeakMemory(child.pid!);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const peakBytes = await sampler.stop();
  const report = JSON.parse(await readFile(path.join(out, "report.json"), "utf8")) as { status: string; tool: string; iterations: number };
  return {
    name: benchCase.name,
    exitCode: code,
    status: report.status,
    tool: report.tool,
    iterations: report.iterations,
    wallSeconds: (Date.now() - started) / 1000,
    peakMiB: peakBytes / 2 ** 20,
  };
}

const root = await mkdtemp(path.join(os.tmpdir(), "mlzero-bench-"));
const outRoot = path.join(REPO_ROOT, "out", "bench");
await mkdir(outRoot, { recursive: true });
const results = [];
for (const benchCase of CASES) {
  const result = await runCase(benchCase, root, outRoot);
  results.push(result);
  console.log(
    `${result.name}: ${result.status} with ${result.tool} in ${result.iterations} iteration(s), ${result.wallSeconds.toFixed(1)} s, peak ${result.peakMiB.toFixed(0)} MiB`,
  );
}
console.log("\n| task | status | tool | iterations | wall (s) | peak RSS, whole tree (MiB) |\n|---|---|---|---|---|---|");
for (const r of results)
  console.log(`| ${r.name} | ${r.status} | ${r.tool} | ${r.iterations} | ${r.wallSeconds.toFixed(1)} | ${r.peakMiB.toFixed(0)} |`);
await writeFile(
  path.join(outRoot, "results.json"),
  JSON.stringify({ machine: { cpus: os.cpus().length, memoryGiB: os.totalmem() / 2 ** 30 }, results }, null, 2),
);
