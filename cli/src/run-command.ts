import { createWriteStream, existsSync } from "node:fs";
import { chmod, cp, mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import { Writable } from "node:stream";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { FailedPreconditionError } from "@mlzero/errors";
import { createLogger } from "@mlzero/logging";
import { TaskState, type Task } from "@mlzero/proto";
import type { CliCommand, CommandIo } from "./cli-command.js";
import { startEmbeddedSystem } from "./embedded-system.js";
import { ProgressDisplay } from "./progress-display.js";
import { RUN_USAGE, parseRunOptions, type RunOptions } from "./run-options.js";
import { taskSpecFrom } from "./task-options.js";
import { llmUsageText } from "./task-text.js";

/** The repository root, two levels above this file's dist/ folder. */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The Python that runs programs: MLZERO_PYTHON, else the project's .venv. */
export function pythonBinFrom(env: NodeJS.ProcessEnv): string {
  const python = env.MLZERO_PYTHON || path.join(REPO_ROOT, ".venv", "bin", "python");
  if (!existsSync(python)) {
    throw new FailedPreconditionError(`no Python runtime at ${python}: run \`make setup\` (or set MLZERO_PYTHON)`);
  }
  return python;
}

/**
 * `mlzero run`: all six services in this process, one task from the input
 * folder to the out folder, live progress on stderr. Returns the exit code:
 * 0 when the task succeeded, 1 otherwise.
 */
export async function runCommand(options: RunOptions, io: CommandIo): Promise<number> {
  const pythonBin = pythonBinFrom(io.env);
  const outDir = path.resolve(options.outDir);
  await mkdir(outDir, { recursive: true });
  const logFile = createWriteStream(path.join(outDir, "mlzero.log"));
  const logger = createLogger({ service: "mlzero", level: "debug", destination: options.verbose ? tee(logFile, io.stderr) : logFile });
  const workspaceRoot = options.workspace ? path.resolve(options.workspace) : await mkdtemp(path.join(os.tmpdir(), "mlzero-"));
  const cleanUp = async () => {
    if (!options.keepWorkspace) await removeWorkspace(workspaceRoot);
    await new Promise<void>((resolve) => logFile.end(resolve));
  };
  let system;
  try {
    system = await startEmbeddedSystem({
      workspaceRoot,
      pythonBin,
      logger,
      defaults: {
        maxIterations: 5,
        timeLimitSeconds: 1800,
        iterationTimeLimitSeconds: 600,
        memoryLimitBytes: 6 * 1024 ** 3,
      },
      // The LLM endpoint (MLZERO_LLM_URL ...) and the search's settings (MLZERO_SEARCH_*), as the services read them.
      env: io.env,
    });
  } catch (error) {
    // E.g. MLZERO_LLM_URL without a model: nothing ran, nothing to keep.
    await cleanUp();
    throw error;
  }
  try {
    const { task: submitted } = await system.tasks.submit({ spec: taskSpecFrom(options) });
    const taskId = submitted!.taskId;
    io.stderr.write(`mlzero: task ${taskId} started on ${options.inputDir}\n`);
    // A task that finished meanwhile cannot be cancelled (FAILED_PRECONDITION): nothing to do then.
    const interrupt = () => void system.tasks.cancel({ taskId, reason: "interrupted (Ctrl-C)" }).catch(() => undefined);
    process.once("SIGINT", interrupt);
    const display = new ProgressDisplay({
      write: (text) => io.stderr.write(text),
      isTTY: Boolean(io.stderr.isTTY),
      columns: io.stderr.columns ?? 120,
    });
    let final: Task | undefined;
    for await (const update of system.tasks.watch({ taskId })) {
      if (!update.heartbeat) display.update(update);
      final = update.task;
    }
    display.finish();
    process.removeListener("SIGINT", interrupt);
    if (!final) throw new Error("the task stream ended without a result");
    if (final.outputDir) await cp(final.outputDir, outDir, { recursive: true, force: true });
    summarize(final, outDir, io);
    return final.state === TaskState.SUCCEEDED ? 0 : 1;
  } finally {
    await system.stop();
    await cleanUp();
  }
}

/** A stream that writes to both: the log file, and stderr with --verbose. */
function tee(first: NodeJS.WritableStream, second: NodeJS.WritableStream): NodeJS.WritableStream {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      second.write(chunk);
      first.write(chunk, done);
    },
  });
}

/** The outcome: what succeeded on stdout, or why not as one line on stderr. */
function summarize(task: Task, outDir: string, io: CommandIo): void {
  const relative = (file: string) => path.relative(process.cwd(), path.join(outDir, file)) || ".";
  if (task.state === TaskState.SUCCEEDED) {
    const score = task.bestScore !== undefined ? `, validation ${task.metric} ${task.bestScore.toFixed(4)}` : "";
    io.stdout.write(`succeeded with ${task.tool} in ${task.iterations.length} iteration(s)${score}\n`);
    io.stdout.write(`predictions: ${relative(task.predictionsFile)}\n`);
  } else {
    io.stderr.write(`mlzero: task ${TaskState[task.state]?.toLowerCase() ?? "ended"}: ${task.message}\n`);
  }
  io.stdout.write(llmUsageText(task.llmUsage));
  io.stdout.write(`report: ${relative("report.md")}\n`);
}

/** Removes a temporary workspace, whose input copies are read-only on purpose. */
async function removeWorkspace(root: string): Promise<void> {
  const makeWritable = async (folder: string): Promise<void> => {
    await chmod(folder, 0o755).catch(() => undefined);
    for (const entry of await readdir(folder, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory()) await makeWritable(path.join(folder, entry.name));
    }
  };
  await makeWritable(root);
  await rm(root, { recursive: true, force: true });
}

/** `mlzero run` in the command table. */
export const runCliCommand: CliCommand = {
  name: "run",
  synopsis: "<input-dir> --out <dir>",
  summary: "run a task end to end in this process, on the embedded defaults",
  usage: RUN_USAGE,
  run: async (args, io) => runCommand(await parseRunOptions(args), io),
};
