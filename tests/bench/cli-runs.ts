import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { generateChurnTask, generateHousePriceTask, generateSpeciesTask, type GeneratedTask } from "../support/generate-tasks.js";
import { NODE_BIN, REPO_ROOT } from "../support/run-cli.js";
import { samplePeakMemory } from "./process-tree-memory.js";
import { fixed, markdownTable } from "./stats.js";

/**
 * Wall time and peak memory of `mlzero run` on each end-to-end task, one
 * process per task, the whole process tree (Node and the Python program)
 * sampled from /proc.
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

export interface CliRunResult {
  name: string;
  exitCode: number | null;
  status: string;
  tool: string;
  iterations: number;
  wallSeconds: number;
  peakMiB: number;
}

async function runCase(benchCase: BenchCase, root: string, outRoot: string): Promise<CliRunResult> {
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

/** Runs every case in turn, one line each as it ends. */
export async function runCliCases(root: string, outRoot: string): Promise<CliRunResult[]> {
  const results: CliRunResult[] = [];
  for (const benchCase of CASES) {
    const result = await runCase(benchCase, root, outRoot);
    results.push(result);
    console.log(
      `${result.name}: ${result.status} with ${result.tool} in ${result.iterations} iteration(s), ${result.wallSeconds.toFixed(1)} s, peak ${result.peakMiB.toFixed(0)} MiB`,
    );
  }
  return results;
}

export function cliRunsTable(results: readonly CliRunResult[]): string {
  return markdownTable(
    ["task", "status", "tool", "iterations", "wall (s)", "peak RSS, whole tree (MiB)"],
    results.map((r) => [r.name, r.status, r.tool, String(r.iterations), fixed(r.wallSeconds, 1), fixed(r.peakMiB, 0)]),
  );
}
