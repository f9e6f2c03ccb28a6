import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { REPO_ROOT } from "../support/run-cli.js";
import type { MetricName } from "./metrics.js";

/** Where the generated suite is cached, rebuilt when the generator changes. */
export const SUITE_DIR = path.join(REPO_ROOT, ".cache", "bench-tasks");
/** The Python generator (source files, not built). */
const GENERATOR_DIR = path.join(REPO_ROOT, "tests", "bench-tasks", "generator");
const STAMP = "generator.sha256";

/** A task's task.json, as the generator writes it. */
export interface TaskSpec {
  name: string;
  modality: "tabular" | "text" | "image" | "time_series" | "multimodal";
  problem_type: "binary" | "multiclass" | "regression";
  metric: MetricName;
  greater_is_better: boolean;
  perfect_score: number;
  /** The column the predictions fill. */
  label: string;
  /** Test columns that identify a row in the predictions; empty: rows are matched by order. */
  keys: string[];
  /** Class names, sorted; empty for regression. */
  classes: string[];
  /** The class whose probability AUC and binary log loss score, and whose F1 counts. */
  positive_class: string | null;
  source: string;
  /** The input folder's form, in words. */
  form: string;
  /** Input paths by role, relative to the input folder (a trailing / names a folder). */
  files: { train: string; test: string; sample_submission?: string; description?: string; extra?: string[] };
  test_rows: number;
  trivial: { method: string; score: number };
  reference: { model: string; score: number };
}

/** One generated task: the folder mlzero gets and, beside it, the hidden answers. */
export interface BenchTask {
  spec: TaskSpec;
  inputDir: string;
  hiddenDir: string;
}

export function pythonBin(): string {
  return process.env.MLZERO_PYTHON || path.join(REPO_ROOT, ".venv", "bin", "python");
}

/** A hash of the generator's source, so that a changed generator regenerates the suite. */
export async function generatorFingerprint(): Promise<string> {
  const hash = createHash("sha256");
  for (const name of (await readdir(GENERATOR_DIR)).filter((file) => file.endsWith(".py")).sort()) {
    hash
      .update(name)
      .update("\0")
      .update(await readFile(path.join(GENERATOR_DIR, name)))
      .update("\0");
  }
  return hash.digest("hex");
}

/**
 * The suite, generated into `dir` unless it already holds the current
 * generator's output. It is written beside `dir` and renamed in, so a
 * process that finds a stamped folder finds it whole.
 */
export async function ensureSuite(dir = SUITE_DIR): Promise<BenchTask[]> {
  const fingerprint = await generatorFingerprint();
  const stamped = async () => (await readFile(path.join(dir, STAMP), "utf8").catch(() => "")) === fingerprint;
  if (await stamped()) return loadSuite(dir);
  const fresh = `${dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    await runGenerator(fresh);
    await writeFile(path.join(fresh, STAMP), fingerprint);
    await rm(dir, { recursive: true, force: true });
    await rename(fresh, dir).catch(async (error: unknown) => {
      // Another process renamed its copy in first: fine if it is the same generator's.
      if (!(await stamped())) throw error;
    });
  } finally {
    await rm(fresh, { recursive: true, force: true });
  }
  return loadSuite(dir);
}

/** The tasks of a generated suite, in the generator's order. */
export async function loadSuite(dir = SUITE_DIR): Promise<BenchTask[]> {
  const manifest = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as { tasks: { name: string }[] };
  return Promise.all(
    manifest.tasks.map(async ({ name }) => {
      const hiddenDir = path.join(dir, name, "hidden");
      const spec = JSON.parse(await readFile(path.join(hiddenDir, "task.json"), "utf8")) as TaskSpec;
      return { spec, inputDir: path.join(dir, name, "input"), hiddenDir };
    }),
  );
}

/** Runs generate.py into `out`; one thread per native pool, since oversubscribed OpenMP pools crawl on shared cores. */
async function runGenerator(out: string): Promise<void> {
  const python = pythonBin();
  if (!existsSync(python)) throw new Error(`no Python at ${python}: run \`make setup\` (or set MLZERO_PYTHON)`);
  const child = spawn(python, ["-B", path.join(GENERATOR_DIR, "generate.py"), out], {
    env: { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1", MKL_NUM_THREADS: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (code !== 0) throw new Error(`the task generator failed (exit ${code}):\n${output.slice(-4000)}`);
}
