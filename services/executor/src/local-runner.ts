import { spawn } from "node:child_process";
import { accessSync, constants, createWriteStream, type WriteStream } from "node:fs";
import { once } from "node:events";
import { availableParallelism } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { FailedPreconditionError } from "@mlzero/errors";
import { ITERATION_FILES } from "@mlzero/program";
import { ExecutionResultSchema, type ExecutionResult } from "@mlzero/proto";
import { listOutputFiles } from "./list-output-files.js";
import { LogTail } from "./log-tail.js";
import type { ProgramRunner, RunRequest } from "./program-runner.js";
import { residentBytes, runProcesses, terminateRun } from "./run-processes.js";
import { sandboxEnv } from "./sandbox-env.js";
import { stageIteration } from "./stage-iteration.js";

/** Settings of the local subprocess runner. */
export interface LocalRunnerOptions {
  /** Python of the virtualenv programs run with; its folder goes first on PATH. */
  pythonBin: string;
  /** util-linux prlimit, which applies the memory limit (default /usr/bin/prlimit). */
  prlimitBin?: string;
  /** How often `onProgress` is called (default 5 s). */
  progressIntervalMs?: number;
  /** How often memory is sampled from /proc (default 250 ms). */
  memorySampleIntervalMs?: number;
  /** Lines kept in each log tail (default 50). */
  tailLines?: number;
  /** Bytes kept in each log tail (default 8 KiB). */
  tailBytes?: number;
  /** Time between SIGTERM and SIGKILL (default 5 s). */
  killGraceMs?: number;
  /** Bound of the BLAS/OpenMP thread pools (default: the cores, at most 4). */
  threads?: number;
  /** Used when a request's time limit is 0 (default 1 h). */
  defaultTimeLimitMs?: number;
  /** Used when a request's memory limit is 0 (default 8 GiB). */
  defaultMemoryLimitBytes?: number;
}

/** Longest delay a Node timer takes; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How long to wait for the log pipes to close once every process is gone. */
const PIPE_DRAIN_MS = 2_000;

/**
 * Runs programs as local subprocesses, each in its own session and process
 * group, with a scrubbed environment and memory, time and thread limits.
 *
 * Memory is limited with RLIMIT_DATA (via prlimit), not RLIMIT_AS. Measured
 * in this venv after importing numpy, pandas, sklearn and lightgbm: address
 * space 590 MB, data segment 282 MB, resident 198 MB. RLIMIT_AS counts every
 * mapping (shared libraries, reserved but untouched arenas), so under 512 MiB
 * importing scipy already fails ("failed to map segment"), while RLIMIT_DATA
 * (private writable memory, Linux >= 4.7) lets the imports through and still
 * turns a 1 GiB numpy allocation into MemoryError. Both limits are per
 * process and virtual, not a cap of resident memory of the whole run; that
 * needs a cgroup, which the Kubernetes runner gets from its container limits.
 */
export function createLocalRunner(options: LocalRunnerOptions): ProgramRunner {
  const prlimitBin = options.prlimitBin ?? "/usr/bin/prlimit";
  for (const [what, file] of [
    ["python", options.pythonBin],
    ["prlimit", prlimitBin],
  ] as const) {
    try {
      accessSync(file, constants.X_OK);
    } catch (error) {
      throw new FailedPreconditionError(`${what} is not executable at ${file}`, { cause: error });
    }
  }
  const settings: Settings = {
    binDir: path.dirname(options.pythonBin),
    prlimitBin,
    progressIntervalMs: options.progressIntervalMs ?? 5_000,
    memorySampleIntervalMs: options.memorySampleIntervalMs ?? 250,
    tailLines: options.tailLines ?? 50,
    tailBytes: options.tailBytes ?? 8 * 1024,
    killGraceMs: options.killGraceMs ?? 5_000,
    threads: options.threads ?? Math.min(availableParallelism(), 4),
    defaultTimeLimitMs: options.defaultTimeLimitMs ?? 3_600_000,
    defaultMemoryLimitBytes: options.defaultMemoryLimitBytes ?? 8 * 1024 ** 3,
  };
  // Runs in flight by task, so cancel reaches them; and by folder, so a
  // redelivered request cannot stage over a run that is still going.
  const runsByTask = new Map<string, Set<ActiveRun>>();
  const busyDirs = new Set<string>();

  return {
    async run(request) {
      const dir = request.workspace.iterationDir(request.iteration);
      if (busyDirs.has(dir)) {
        throw new FailedPreconditionError(`iteration ${request.iteration} of task ${request.taskId} is already running`);
      }
      busyDirs.add(dir);
      const key = taskKey(request.tenant, request.taskId);
      const active = new ActiveRun(settings.killGraceMs);
      const runs = runsByTask.get(key) ?? new Set();
      runs.add(active);
      runsByTask.set(key, runs);
      try {
        return await runOnce(request, active, settings);
      } finally {
        runs.delete(active);
        if (runs.size === 0) runsByTask.delete(key);
        busyDirs.delete(dir);
      }
    },

    async cancel(tenant, taskId) {
      const runs = [...(runsByTask.get(taskKey(tenant, taskId)) ?? [])];
      await Promise.all(runs.map((run) => run.stop("cancel")));
      return runs.length > 0;
    },
  };
}

/** The options with every default filled in, and the venv's bin folder. */
type Settings = Omit<Required<LocalRunnerOptions>, "pythonBin"> & { binDir: string };

function taskKey(tenant: string, taskId: string): string {
  return `${tenant}/${taskId}`;
}

/** A run in flight: why it was stopped, and the one termination it gets. */
class ActiveRun {
  stopReason: "timeout" | "cancel" | undefined;
  private leaderPid: number | undefined;
  private leaderExited = false;
  private termination: Promise<void> | undefined;

  constructor(private readonly graceMs: number) {}

  /** Records the spawned leader; a stop asked for while staging happens now. */
  started(pid: number): void {
    this.leaderPid = pid;
    if (this.stopReason !== undefined) void this.terminate();
  }

  /** Records that the launcher exited: a later stop no longer changes the outcome. */
  exited(): void {
    this.leaderExited = true;
  }

  /** Stops the run for `reason`; the first reason wins. */
  stop(reason: "timeout" | "cancel"): Promise<void> {
    if (!this.leaderExited) this.stopReason ??= reason;
    return this.terminate();
  }

  /** Kills whatever is left of the run; shares a termination already under way. */
  terminate(): Promise<void> {
    if (this.leaderPid === undefined) return Promise.resolve();
    this.termination ??= terminateRun(this.leaderPid, this.graceMs);
    return this.termination;
  }
}

async function runOnce(request: RunRequest, active: ActiveRun, settings: Settings): Promise<ExecutionResult> {
  const staged = await stageIteration(request.workspace, request.iteration, request.program);
  const memoryLimit = Math.floor(request.memoryLimitBytes > 0 ? request.memoryLimitBytes : settings.defaultMemoryLimitBytes);
  const timeLimitMs = request.timeLimitMs > 0 ? request.timeLimitMs : settings.defaultTimeLimitMs;
  const env = sandboxEnv({ binDir: settings.binDir, scratchDir: staged.scratchDir, threads: settings.threads, gpus: request.gpus });

  const startedAt = Date.now();
  // detached: the launcher becomes leader of a new session and process
  // group, so the whole tree can be found and killed together. prlimit
  // applies the limits and then execs the shell in the same process.
  const child = spawn(settings.prlimitBin, [`--data=${memoryLimit}`, "--core=0", "--", "/bin/sh", ITERATION_FILES.launcher], {
    cwd: staged.dir,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  await once(child, "spawn");
  // Listening after "spawn" is safe: "exit" comes in a later event-loop turn.
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  const leaderPid = child.pid!;
  active.started(leaderPid);

  const stdoutTail = new LogTail(settings.tailLines, settings.tailBytes);
  const stderrTail = new LogTail(settings.tailLines, settings.tailBytes);
  const combinedTail = new LogTail(settings.tailLines, settings.tailBytes);
  const stdoutDone = capture(child.stdout, createWriteStream(staged.stdoutPath), [stdoutTail, combinedTail]);
  const stderrDone = capture(child.stderr, createWriteStream(staged.stderrPath), [stderrTail, combinedTail]);

  // Peak memory is sampled (sum of resident memory of the run's processes
  // every memorySampleIntervalMs): a spike between samples is missed, and a
  // run shorter than one interval reports 0.
  let peakMemory = 0;
  const sampler = setInterval(() => {
    void runProcesses(leaderPid)
      .then(residentBytes)
      .then((bytes) => {
        peakMemory = Math.max(peakMemory, bytes);
      })
      .catch(() => undefined); // a missed sample only lowers the estimate
  }, settings.memorySampleIntervalMs);
  const { onProgress } = request;
  const progress =
    onProgress &&
    setInterval(() => {
      try {
        onProgress({ elapsedMs: Date.now() - startedAt, logTail: combinedTail.tail() });
      } catch {
        // A failing listener must not break the run it listens to.
      }
    }, settings.progressIntervalMs);
  const deadline = setTimeout(() => void active.stop("timeout"), Math.min(timeLimitMs, MAX_TIMER_MS));

  const [exitCode, signal] = await exited;
  const durationMs = Date.now() - startedAt;
  active.exited();
  clearTimeout(deadline);
  clearInterval(sampler);
  clearInterval(progress);
  // The launcher is gone; anything it left behind (background children, a
  // worker ignoring SIGTERM) is killed so nothing outlives the run.
  await active.terminate();
  await Promise.race([Promise.all([stdoutDone, stderrDone]), sleep(PIPE_DRAIN_MS)]);
  child.stdout.destroy();
  child.stderr.destroy();
  await Promise.all([stdoutDone, stderrDone]);

  return create(ExecutionResultSchema, {
    candidateId: request.program.candidateId,
    exitCode: exitCode ?? -1,
    signal: signal ?? "",
    timedOut: active.stopReason === "timeout",
    cancelled: active.stopReason === "cancel",
    duration: durationFromMs(durationMs),
    iterationDir: staged.name,
    stdoutTail: stdoutTail.tail(),
    stderrTail: stderrTail.tail(),
    outputFiles: await listOutputFiles(staged.outputsDir),
    peakMemoryBytes: BigInt(peakMemory),
  });
}

/**
 * Copies a program's output stream into its log file, feeding the tails on
 * the way. Resolves once the stream has ended or been destroyed and the file
 * is flushed and closed.
 */
async function capture(stream: Readable, file: WriteStream, tails: LogTail[]): Promise<void> {
  const decoder = new StringDecoder("utf8");
  stream.on("data", (chunk: Buffer) => {
    const text = decoder.write(chunk);
    for (const tail of tails) tail.append(text);
  });
  // A log file that cannot be written (disk full) must not stall the
  // program on a full pipe: keep reading for the tails.
  file.on("error", () => stream.resume());
  stream.pipe(file);
  await once(stream, "close");
  file.end();
  if (!file.closed) await once(file, "close");
}
