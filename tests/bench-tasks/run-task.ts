import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { chmod, readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { NODE_BIN, REPO_ROOT } from "../support/run-cli.js";
import { gradeFile } from "./grade.js";
import type { BenchTask } from "./suite.js";

/** What one `mlzero run` of a task did, graded. */
export interface TaskRun {
  name: string;
  modality: string;
  metric: string;
  greaterIsBetter: boolean;
  /** mlzero's exit code (null: killed). */
  exitCode: number | null;
  /** report.json's status, or why there is none. */
  status: string;
  /** Succeeded and its predictions could be graded. */
  success: boolean;
  /** Why not, in one line; empty on success. */
  reason: string;
  score: number | null;
  trivial: number;
  reference: number;
  /** (score − trivial) / (reference − trivial): 0 is the trivial baseline, 1 the reference. */
  normalised: number | null;
  iterations: number;
  tool: string;
  /** What perception made of the task, for reading failures. */
  perceived: { problemType: string; label: string; metric: string } | null;
  validationScore: number | null;
  wallSeconds: number;
  outDir: string;
  /** The `--parallelism` mlzero ran with; null when none was given (its default, the single loop). */
  parallelism: number | null;
}

export interface RunTaskOptions {
  /** The `--time-limit` given to mlzero; the process is stopped 2 minutes after it. */
  timeLimitSeconds: number;
  /** Candidate programs run at once in each round (`--parallelism`); left out, mlzero's default. */
  parallelism?: number;
  /** More `mlzero run` arguments (e.g. --tool). */
  args?: string[];
}

/** The parts of mlzero's report.json read here. */
interface MlzeroReport {
  status: string;
  reason?: string;
  predictions: string | null;
  tool: string;
  iterations: number;
  validation_score: number | null;
  perception?: { problem_type?: string; label_column?: string };
  metric?: string;
}

/** `(score − trivial) / (reference − trivial)`; the same for either metric direction. */
export function normalisedScore(score: number, trivial: number, reference: number): number {
  return (score - trivial) / (reference - trivial);
}

/** Runs the built CLI on the task's input folder, one process, output to `outDir`, then grades what it wrote. */
export async function runTask(task: BenchTask, outDir: string, options: RunTaskOptions): Promise<TaskRun> {
  await removeTree(outDir);
  const logFile = `${outDir}.log`;
  const args = [
    "run",
    task.inputDir,
    "--out",
    outDir,
    "--time-limit",
    String(options.timeLimitSeconds),
    ...(options.parallelism === undefined ? [] : ["--parallelism", String(options.parallelism)]),
    ...(options.args ?? []),
  ];
  const started = Date.now();
  const { code, lastLine } = await runCli(args, logFile, (options.timeLimitSeconds + 120) * 1000);
  const wallSeconds = (Date.now() - started) / 1000;
  const spec = task.spec;
  const run: TaskRun = {
    name: spec.name,
    modality: spec.modality,
    metric: spec.metric,
    greaterIsBetter: spec.greater_is_better,
    exitCode: code,
    status: "no report",
    success: false,
    reason: "",
    score: null,
    trivial: spec.trivial.score,
    reference: spec.reference.score,
    normalised: null,
    iterations: 0,
    tool: "",
    perceived: null,
    validationScore: null,
    wallSeconds,
    outDir,
    parallelism: options.parallelism ?? null,
  };
  const report = await readFile(path.join(outDir, "report.json"), "utf8")
    .then((content) => JSON.parse(content) as MlzeroReport)
    .catch(() => undefined);
  if (!report) {
    run.reason = code === null ? "killed past the time limit" : lastLine || `exit ${code} without a report`;
    return run;
  }
  Object.assign(run, {
    status: report.status,
    iterations: report.iterations,
    tool: report.tool,
    validationScore: report.validation_score,
    perceived: {
      problemType: report.perception?.problem_type ?? "",
      label: report.perception?.label_column ?? "",
      metric: report.metric ?? "",
    },
  });
  if (report.status !== "succeeded" || !report.predictions) {
    run.reason = report.reason || lastLine || `status ${report.status}`;
    return run;
  }
  try {
    run.score = await gradeFile(task, path.join(outDir, report.predictions));
    run.normalised = normalisedScore(run.score, run.trivial, run.reference);
    run.success = true;
  } catch (error) {
    // A GradeError says what is wrong with the predictions; anything else (an unreadable file) too.
    run.reason = `predictions not gradable: ${error instanceof Error ? error.message : String(error)}`;
  }
  return run;
}

/**
 * The CLI with its output in a log file. Past the limit it gets SIGINT
 * (mlzero cancels the task and stops its program), then SIGKILL.
 */
async function runCli(args: string[], logFile: string, limitMs: number): Promise<{ code: number | null; lastLine: string }> {
  const log = createWriteStream(logFile);
  const child = spawn(NODE_BIN, [path.join(REPO_ROOT, "cli/dist/main.js"), ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let tail = "";
  const keep = (chunk: Buffer) => {
    log.write(chunk);
    tail = (tail + chunk.toString()).slice(-4000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const interrupt = setTimeout(() => child.kill("SIGINT"), limitMs);
  const kill = setTimeout(() => child.kill("SIGKILL"), limitMs + 30_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (exit) => resolve(exit));
  });
  clearTimeout(interrupt);
  clearTimeout(kill);
  await new Promise<void>((resolve) => log.end(resolve));
  const lines = tail.split("\n").filter((line) => /^mlzero: task \w+:/.test(line));
  return { code, lastLine: (lines.at(-1) ?? tail.trim().split("\n").at(-1) ?? "").trim() };
}

/** Removes an earlier run's output; mlzero keeps copied inputs read-only. */
async function removeTree(dir: string): Promise<void> {
  const writable = async (folder: string): Promise<void> => {
    await chmod(folder, 0o755).catch(() => undefined);
    for (const entry of await readdir(folder, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory()) await writable(path.join(folder, entry.name));
    }
  };
  await writable(dir);
  await rm(dir, { recursive: true, force: true });
  await rm(`${dir}.log`, { force: true });
}
