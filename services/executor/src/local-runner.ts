import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { accessSync, constants } from "node:fs";
import { once } from "node:events";
import { mkdir, realpath } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { FailedPreconditionError } from "@mlzero/errors";
import { ITERATION_FILES, OUTPUTS_DIR } from "@mlzero/program";
import { ExecutionResultSchema, type ExecutionResult } from "@mlzero/proto";
import { iterationName } from "@mlzero/workspace";
import { listOutputFiles } from "./list-output-files.js";
import { LogFollower } from "./log-follower.js";
import { LogTail } from "./log-tail.js";
import { bootId, identityOfChild, isAlive, liveIdentity, workingDirectory, type ProcessIdentity } from "./process-identity.js";
import type { ProgramRunner, RunHandle, RunRequest } from "./program-runner.js";
import {
  createRunRecord,
  programSha256,
  readExitStatus,
  readLaunches,
  readRunRecord,
  writeRunRecord,
  type RunRecord,
  type StopReason,
} from "./run-record.js";
import { residentBytes, runProcesses, terminateRun } from "./run-processes.js";
import { RunSlots } from "./run-slots.js";
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
  /**
   * How often the run is looked at (default 250 ms): memory sampled from
   * /proc, logs read, and, for an adopted run, whether its process still lives.
   */
  memorySampleIntervalMs?: number;
  /** Lines kept in each log tail (default 50). */
  tailLines?: number;
  /** Bytes kept in each log tail (default 8 KiB). */
  tailBytes?: number;
  /** Time between SIGTERM and SIGKILL (default 5 s). */
  killGraceMs?: number;
  /**
   * Bound of the BLAS/OpenMP thread pools (default: with `maxConcurrentRuns`,
   * the cores shared among that many runs; without, the cores shared among
   * the runs going when a program is launched; at least 1, at most 4).
   */
  threads?: number;
  /** Used when a request's time limit is 0 (default 1 h). */
  defaultTimeLimitMs?: number;
  /** Used when a request's memory limit is 0 (default 8 GiB). */
  defaultMemoryLimitBytes?: number;
  /**
   * Programs run at once (default 0: no limit). A run that finds no free
   * slot is recorded (so a restarted executor starts it) and waits its turn;
   * its time limit starts when it is launched.
   */
  maxConcurrentRuns?: number;
  /**
   * How often a lost run is launched again (default 1). Lost: its whole
   * process tree vanished while no runner watched it, leaving no exit status
   * and no stop the executor decided, as when its machine fails or restarts.
   * It runs again in the same iteration folder, from a clean slate; past
   * this many relaunches it is reported as interrupted.
   */
  relaunchesOfLostRuns?: number;
}

/** The local runner, with what tests need beyond {@link ProgramRunner}. */
export interface LocalRunner extends ProgramRunner {
  /**
   * Stops watching every run and leaves their processes running and their
   * records as they are, as a crash of the executor would: no result
   * resolves and nothing more is written. For tests of adoption.
   */
  detach(): void;
}

/** Longest delay a Node timer takes; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Message of a result whose process vanished without an exit status. */
export const INTERRUPTED_MESSAGE =
  "mlzero: the run was interrupted: its process ended while no executor watched it and left no exit status";

/**
 * Runs programs as local subprocesses, each in its own session and process
 * group, with a scrubbed environment and memory, time and thread limits.
 *
 * Runs are durable (see run-record.ts): the launcher (run.sh) appends a line
 * to launches.log when it starts and records the exit status when the program
 * ends, the program writes its logs to files, and the runner keeps a record
 * of each run (run.json) with its launcher's identity and its deadline. So a
 * run outlives the executor that started it, and a runner in the next
 * executor adopts it: waits for it, enforces its deadline, reads how it
 * ended, instead of running it again.
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
 *
 * The program runs as the executor's user, so the local runner is no
 * filesystem boundary: a program could rewrite its own run record. The
 * record's process identity (pid, start time, boot) is checked before the
 * runner signals anything, and the Kubernetes runner is the isolating one.
 */
export function createLocalRunner(options: LocalRunnerOptions): LocalRunner {
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
    // Runs at once share the cores: OpenMP pools that together ask for more
    // threads than there are cores spin against each other (on two busy
    // cores, a small LightGBM run took 47 s with two threads, 1.4 s with one).
    // 0: decided at each launch, from the runs going then (a round of the search launches several at once).
    threads: options.threads ?? (options.maxConcurrentRuns ? sharedThreads(options.maxConcurrentRuns) : 0),
    runsGoing: () => byDir.size,
    defaultTimeLimitMs: options.defaultTimeLimitMs ?? 3_600_000,
    defaultMemoryLimitBytes: options.defaultMemoryLimitBytes ?? 8 * 1024 ** 3,
    maxConcurrentRuns: options.maxConcurrentRuns ?? 0,
    relaunchesOfLostRuns: options.relaunchesOfLostRuns ?? 1,
    slots: new RunSlots(options.maxConcurrentRuns ?? 0),
  };
  // Runs this runner watches, by folder (one run per iteration folder at a
  // time) and by task, so cancel reaches them.
  const byDir = new Map<string, WatchedRun>();
  const byTask = new Map<string, Set<WatchedRun>>();

  function watch(run: WatchedRun): void {
    byDir.set(run.dir, run);
    const runs = byTask.get(run.taskKey) ?? new Set();
    runs.add(run);
    byTask.set(run.taskKey, runs);
    void run.ended.finally(() => forget(run));
  }

  function forget(run: WatchedRun): void {
    if (byDir.get(run.dir) === run) byDir.delete(run.dir);
    const runs = byTask.get(run.taskKey);
    runs?.delete(run);
    if (runs?.size === 0) byTask.delete(run.taskKey);
  }

  async function start(request: RunRequest): Promise<RunHandle> {
    const dir = request.workspace.iterationDir(request.iteration);
    const sha = programSha256(request.program);
    const watched = byDir.get(dir);
    if (watched) {
      if (watched.isFor(request.program.candidateId, sha)) return watched.handle(false, request);
      throw busy(request);
    }
    // Claimed before the first await, so a second start for the folder in
    // this process finds it.
    const run = new WatchedRun(dir, taskKey(request.tenant, request.taskId), settings, request.program.candidateId, sha);
    watch(run);
    try {
      await mkdir(dir, { recursive: true });
      for (let claims = 0; ; claims++) {
        const record = await readRunRecord(dir);
        if (record && record.candidateId === request.program.candidateId && record.programSha256 === sha) {
          if (record.state === "finished" || record.state === "reported") return run.alreadyEnded(record);
          if (await run.adopt(record, request)) return run.handle(false, request);
          // Recorded but never started (the executor died before spawning), or lost: start it now.
          await run.launch(request);
          return run.handle(true, request);
        }
        if (record && (record.state === "launching" || record.state === "running") && (await stillRunning(dir, record))) {
          throw busy(request);
        }
        if (record) {
          await run.launch(request);
          return run.handle(true, request);
        }
        if (await run.claim(request)) return run.handle(true, request);
        // Another executor claimed the folder between our read and our claim: look again.
        if (claims > 2) throw busy(request);
      }
    } catch (error) {
      run.abandon();
      forget(run);
      throw error;
    }
  }

  return {
    start,

    async adopt(iterationDir) {
      const dir = path.resolve(iterationDir);
      if (byDir.has(dir)) return byDir.get(dir)!.handle(false);
      const record = await readRunRecord(dir);
      if (!record || record.state === "reported") return undefined;
      const run = new WatchedRun(dir, taskKey(record.tenant, record.taskId), settings, record.candidateId, record.programSha256);
      watch(run);
      if (record.state === "finished") return run.alreadyEnded(record);
      if (await run.adopt(record, undefined)) return run.handle(false);
      // Recorded but never started: only a request with the program can start it.
      run.abandon();
      forget(run);
      return undefined;
    },

    async run(request) {
      const handle = await start(request);
      const result = await handle.result;
      await handle.markReported();
      return result;
    },

    async cancel(tenant, taskId) {
      const runs = [...(byTask.get(taskKey(tenant, taskId)) ?? [])];
      await Promise.all(runs.map((run) => run.stop("cancel")));
      return runs.length > 0;
    },

    detach() {
      for (const run of byDir.values()) run.abandon();
      byDir.clear();
      byTask.clear();
    },
  };
}

/** The options with every default filled in, and the venv's bin folder. */
type Settings = Omit<Required<LocalRunnerOptions>, "pythonBin"> & { binDir: string; slots: RunSlots; runsGoing: () => number };

/** Threads for each of `runs` programs sharing the cores: at least 1, at most 4. */
function sharedThreads(runs: number): number {
  return Math.max(1, Math.min(4, Math.floor(availableParallelism() / Math.max(1, runs))));
}

function taskKey(tenant: string, taskId: string): string {
  return `${tenant}/${taskId}`;
}

function busy(request: RunRequest): FailedPreconditionError {
  return new FailedPreconditionError(`iteration ${request.iteration} of task ${request.taskId} is already running`);
}

/** True when a recorded run's launcher is still alive. */
async function stillRunning(dir: string, record: RunRecord): Promise<boolean> {
  const identity = record.process ?? (await identityFromLaunches(dir, record));
  return identity !== undefined && (await isAlive(identity));
}

/**
 * The launcher of a run recorded as launching (the executor died between
 * spawning it and recording its pid): its line in launches.log names its
 * pid, and a live process with that pid working in this folder is it.
 */
async function identityFromLaunches(dir: string, record: RunRecord): Promise<ProcessIdentity | undefined> {
  const entry = (await readLaunches(dir)).find((launch) => launch.launchId === record.launchId);
  if (!entry) return undefined;
  const identity = await liveIdentity(entry.pid);
  // The kernel reports the working directory with symbolic links resolved.
  if (!identity || (await workingDirectory(entry.pid)) !== (await realpath(dir).catch(() => dir))) return undefined;
  return identity;
}

/** Why an abandoned run's result never settles for its handles. */
const ABANDONED = new Error("the run was abandoned");

/**
 * One run this runner watches, launched here or adopted: its record (the
 * only writer of it in this process), its timers, and its result.
 */
class WatchedRun {
  private record: RunRecord | undefined;
  private writes: Promise<void> = Promise.resolve();
  private abandoned = false;
  private leaderExited = false;
  private termination: Promise<void> | undefined;
  private stopRequested: StopReason | undefined;
  private settle!: (result: ExecutionResult) => void;
  private fail!: (error: unknown) => void;
  private readonly result: Promise<ExecutionResult>;
  private onProgress: RunRequest["onProgress"];
  /** Waiting for a free slot: spawned later. */
  private queued = false;
  /** Launches of this program lost before the next one (recorded with it). */
  private relaunches = 0;
  private markStarted!: () => void;
  /** Resolves once the program runs (or ran): spawned here, or adopted. */
  private readonly started = new Promise<void>((resolve) => (this.markStarted = resolve));
  /** Resolves or rejects once the run has ended, or is abandoned. */
  readonly ended: Promise<unknown>;

  constructor(
    readonly dir: string,
    readonly taskKey: string,
    private readonly settings: Settings,
    private readonly candidateId: string,
    private readonly sha: string,
  ) {
    this.result = new Promise((resolve, reject) => {
      this.settle = resolve;
      this.fail = reject;
    });
    this.ended = this.result.catch(() => undefined);
  }

  isFor(candidateId: string, sha: string): boolean {
    return this.candidateId === candidateId && this.sha === sha;
  }

  /** A handle on this run for one caller. */
  handle(launched: boolean, request?: RunRequest): RunHandle {
    if (request?.onProgress) this.onProgress ??= request.onProgress;
    // An abandoned run's result never settles: its watcher is gone, as in a crash.
    const result = new Promise<ExecutionResult>((resolve, reject) => {
      this.result.then(resolve, (error: unknown) => {
        if (error !== ABANDONED) reject(error);
      });
    });
    return {
      launched,
      reported: this.record?.state === "reported",
      queued: this.queued,
      started: this.started,
      result,
      reportId: () => this.record?.reportId ?? "",
      startId: () => this.record?.launchId ?? "",
      markReported: async () => {
        if (!this.record || this.abandoned) return;
        this.record.state = "reported";
        await this.persist();
      },
    };
  }

  /** A run that has already ended: its recorded result. */
  alreadyEnded(record: RunRecord): RunHandle {
    this.record = record;
    this.markStarted();
    this.settle(fromBinary(ExecutionResultSchema, Buffer.from(record.result ?? "", "base64")));
    return this.handle(false);
  }

  /** Stops watching without touching the process or the record. */
  abandon(): void {
    this.abandoned = true;
    this.fail(ABANDONED);
  }

  /** Claims a fresh folder for `request` and launches it; false when another executor claimed it first. */
  async claim(request: RunRequest): Promise<boolean> {
    const record = this.newRecord(request);
    if (!(await createRunRecord(this.dir, record))) return false;
    this.record = record;
    await this.spawnWhenFree(request);
    return true;
  }

  /** Launches `request` in a folder that has a record (of another program, or one never started). */
  async launch(request: RunRequest): Promise<void> {
    this.record = this.newRecord(request);
    await this.persist();
    await this.spawnWhenFree(request);
  }

  /**
   * Takes over a recorded run: watches it while its launcher lives, or
   * records how it ended. False when it is to be launched (again): recorded
   * but never started, or lost and `request` has the program to relaunch.
   */
  async adopt(record: RunRecord, request: RunRequest | undefined): Promise<boolean> {
    this.record = { ...record };
    const identity = record.process ?? (await identityFromLaunches(this.dir, record));
    if (!identity) {
      const launched = (await readLaunches(this.dir)).some((launch) => launch.launchId === record.launchId);
      if (!launched && record.state === "launching") return false;
      // Started, and gone before anyone recorded its identity.
      if (request && (await this.mayRelaunch())) return false;
      this.markStarted();
      void this.finish(undefined, undefined);
      return true;
    }
    if (request && !(await isAlive(identity)) && (await this.mayRelaunch())) {
      // Whatever the lost run left (a child the launcher's death orphaned) must not run beside its relaunch.
      await this.terminate();
      this.termination = undefined;
      return false;
    }
    // Running already: it holds a slot, over the limit if need be.
    void this.ended.finally(this.settings.slots.occupy());
    this.markStarted();
    if (!record.process) {
      this.record.process = identity;
      this.record.state = "running";
      await this.persist();
    }
    if (request?.onProgress) this.onProgress = request.onProgress;
    void this.follow(identity, undefined);
    return true;
  }

  /**
   * True when the recorded run was lost (no exit status, no stop of ours)
   * and has relaunches left; its relaunch is then recorded as one more.
   */
  private async mayRelaunch(): Promise<boolean> {
    const record = this.record!;
    if (record.stopReason || (await readExitStatus(this.dir))) return false;
    const relaunches = (record.relaunches ?? 0) + 1;
    if (relaunches > this.settings.relaunchesOfLostRuns) return false;
    this.relaunches = relaunches;
    return true;
  }

  /** Stops the run for `reason` (recorded first, so an adopter knows why it ended); the first reason wins. */
  async stop(reason: StopReason): Promise<void> {
    if (this.leaderExited || this.abandoned) return this.termination;
    if (!this.record?.process) {
      // Not spawned yet: stopped as soon as it is.
      this.stopRequested ??= reason;
      return;
    }
    if (!this.record.stopReason) {
      this.record.stopReason = reason;
      await this.persist().catch(() => undefined); // the kill matters more than the record
    }
    return this.terminate();
  }

  private newRecord(request: RunRequest): RunRecord {
    const now = Date.now();
    return {
      version: 1,
      tenant: request.tenant,
      taskId: request.taskId,
      iteration: request.iteration,
      candidateId: request.program.candidateId,
      programSha256: this.sha,
      launchId: randomUUID(),
      state: "launching",
      launchedAtMs: now,
      deadlineAtMs: now + this.timeLimitMs(request),
      context: request.context ? Buffer.from(request.context).toString("base64") : undefined,
      relaunches: this.relaunches || undefined,
    };
  }

  private timeLimitMs(request: RunRequest): number {
    return request.timeLimitMs > 0 ? request.timeLimitMs : this.settings.defaultTimeLimitMs;
  }

  /**
   * Spawns the run now when a slot is free; otherwise returns at once (the
   * record, durable already, names the run) and spawns it when one is. The
   * slot is held until the run ends.
   */
  private async spawnWhenFree(request: RunRequest): Promise<void> {
    const slot = this.settings.slots.tryTake();
    if (slot) {
      void this.ended.finally(slot);
      await this.spawnAndWatch(request);
      return;
    }
    this.queued = true;
    const launchId = this.record!.launchId;
    void this.settings.slots.take().then(async (release) => {
      void this.ended.finally(release);
      if (this.abandoned) return;
      try {
        // Another executor may have launched it meanwhile (it took the
        // unstarted record for one whose executor died): then it is theirs.
        if ((await readRunRecord(this.dir))?.launchId !== launchId) {
          this.abandon();
          return;
        }
        await this.spawnAndWatch(request);
      } catch (error) {
        this.fail(error);
      }
    });
  }

  private async spawnAndWatch(request: RunRequest): Promise<void> {
    const record = this.record!;
    const settings = this.settings;
    const staged = await stageIteration(request.workspace, request.iteration, request.program, {
      launchId: record.launchId,
      candidateId: record.candidateId,
    });
    const memoryLimit = Math.floor(request.memoryLimitBytes > 0 ? request.memoryLimitBytes : settings.defaultMemoryLimitBytes);
    const threads = settings.threads || sharedThreads(settings.runsGoing());
    const env = sandboxEnv({ binDir: settings.binDir, scratchDir: staged.scratchDir, threads, gpus: request.gpus });
    // detached: the launcher becomes leader of a new session and process
    // group, so the whole tree can be found and killed together, and it
    // outlives the executor. prlimit applies the limits, then execs the
    // shell in the same process. No pipes: the launcher writes the logs.
    const child = spawn(settings.prlimitBin, [`--data=${memoryLimit}`, "--core=0", "--", "/bin/sh", ITERATION_FILES.launcher], {
      cwd: staged.dir,
      env,
      detached: true,
      stdio: "ignore",
    });
    // Read now, before the event loop can reap the child: the pid names it.
    const identity = child.pid === undefined ? undefined : identityOfChild(child.pid);
    await once(child, "spawn");
    // Listening after "spawn" is safe: "exit" comes in a later event-loop turn.
    const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    const startedAt = Date.now();
    record.launchedAtMs = startedAt;
    record.deadlineAtMs = startedAt + this.timeLimitMs(request);
    record.process = identity ?? { pid: child.pid!, startTime: -1, bootId: "" };
    record.state = "running";
    await this.persist();
    this.markStarted();
    if (request.onProgress) this.onProgress ??= request.onProgress;
    void this.follow(record.process, { child, exited });
    if (this.stopRequested) void this.stop(this.stopRequested);
  }

  /**
   * Watches the run until its launcher ends: samples memory, follows the
   * logs, reports progress and enforces the deadline, then records the result.
   * A launcher this process spawned reports its exit; an adopted one is polled.
   */
  private async follow(
    identity: ProcessIdentity,
    own: { child: ChildProcess; exited: Promise<[number | null, NodeJS.Signals | null]> } | undefined,
  ): Promise<void> {
    const settings = this.settings;
    const record = this.record!;
    const stdoutTail = new LogTail(settings.tailLines, settings.tailBytes);
    const stderrTail = new LogTail(settings.tailLines, settings.tailBytes);
    const combinedTail = new LogTail(settings.tailLines, settings.tailBytes);
    const window = 2 * settings.tailBytes;
    const followers = [
      new LogFollower(path.join(this.dir, ITERATION_FILES.stdout), [stdoutTail, combinedTail], window),
      new LogFollower(path.join(this.dir, ITERATION_FILES.stderr), [stderrTail, combinedTail], window),
    ];
    // Polled in turn, so the combined tail interleaves the streams to within one interval.
    let reading = Promise.resolve();
    const readLogs = () =>
      (reading = reading
        .catch(() => undefined)
        .then(async () => {
          for (const follower of followers) await follower.poll();
        }));

    // Peak memory is sampled (sum of resident memory of the run's processes
    // every memorySampleIntervalMs): a spike between samples is missed, a run
    // shorter than one interval reports 0, and an adopted run reports the
    // peak since its adoption.
    let peakMemory = 0;
    const sampler = setInterval(() => {
      void readLogs().catch(() => undefined);
      void runProcesses(identity.pid)
        .then(residentBytes)
        .then((bytes) => {
          peakMemory = Math.max(peakMemory, bytes);
        })
        .catch(() => undefined); // a missed sample only lowers the estimate
    }, settings.memorySampleIntervalMs);
    const progress = setInterval(() => {
      const onProgress = this.onProgress;
      if (!onProgress || this.abandoned) return;
      void readLogs()
        .catch(() => undefined)
        .then(() => onProgress({ elapsedMs: Date.now() - record.launchedAtMs, logTail: combinedTail.tail() }))
        .catch(() => undefined); // a failing listener must not break the run it listens to
    }, settings.progressIntervalMs);
    const deadline = setTimeout(() => void this.stop("timeout"), Math.min(Math.max(0, record.deadlineAtMs - Date.now()), MAX_TIMER_MS));
    // A stop decided by an executor that died before it was done.
    if (record.stopReason) void this.terminate();

    let exit: [number | null, NodeJS.Signals | null] | undefined;
    if (own) {
      exit = await Promise.race([own.exited, this.ended.then(() => undefined)]);
    } else {
      while (!this.abandoned && (await isAlive(identity))) await sleep(settings.memorySampleIntervalMs);
    }
    this.leaderExited = true;
    clearTimeout(deadline);
    clearInterval(sampler);
    clearInterval(progress);
    if (this.abandoned) return;
    await readLogs().catch(() => undefined);
    await this.finish(identity, exit, { stdoutTail, stderrTail, peakMemory, readLogs });
  }

  /** Kills whatever is left of the run; shares a termination already under way. */
  private terminate(): Promise<void> {
    const identity = this.record?.process;
    if (!identity) return Promise.resolve();
    this.termination ??= (async () => {
      // The launcher's pid names this run's session only while the launcher
      // lives or while nothing else has taken its pid: a live process with
      // that pid but another start time means the run's session is gone.
      if (identity.startTime >= 0 && identity.bootId !== bootId()) return; // recorded before a reboot
      const now = await liveIdentity(identity.pid);
      if (now && identity.startTime >= 0 && now.startTime !== identity.startTime) return;
      await terminateRun(identity.pid, this.settings.killGraceMs);
    })();
    return this.termination;
  }

  /** Records how the run ended and settles its result. */
  private async finish(
    identity: ProcessIdentity | undefined,
    exit: [number | null, NodeJS.Signals | null] | undefined,
    seen?: { stdoutTail: LogTail; stderrTail: LogTail; peakMemory: number; readLogs: () => Promise<void> },
  ): Promise<void> {
    try {
      const record = this.record!;
      // The launcher is gone; anything it left behind (background children,
      // a worker ignoring SIGTERM) is killed so nothing outlives the run.
      if (identity) await this.terminate();
      if (this.abandoned) return;
      let stdoutTail = seen?.stdoutTail;
      let stderrTail = seen?.stderrTail;
      if (!seen) {
        // Never watched: read the ends of the logs now.
        stdoutTail = new LogTail(this.settings.tailLines, this.settings.tailBytes);
        stderrTail = new LogTail(this.settings.tailLines, this.settings.tailBytes);
        const window = 2 * this.settings.tailBytes;
        await new LogFollower(path.join(this.dir, ITERATION_FILES.stdout), [stdoutTail], window).poll();
        await new LogFollower(path.join(this.dir, ITERATION_FILES.stderr), [stderrTail], window).poll();
      } else {
        await seen.readLogs().catch(() => undefined);
      }
      const status = await readExitStatus(this.dir);
      // No status recorded: the launcher itself was killed (it survives
      // SIGTERM to record the status, so by SIGKILL). Its parent knows the
      // signal; an adopter knows it when the executor stopped the run, and
      // otherwise only that the run was interrupted.
      const interrupted = !status && !exit && !record.stopReason;
      const exitCode = status?.exitCode ?? (exit ? (exit[0] ?? -1) : -1);
      const signal = status?.signal ?? (exit ? (exit[1] ?? "") : interrupted ? "" : "SIGKILL");
      const endedAt = status?.endedAtMs ?? Date.now();
      const stderr = stderrTail!.tail();
      const result = create(ExecutionResultSchema, {
        candidateId: record.candidateId,
        exitCode,
        signal,
        timedOut: record.stopReason === "timeout",
        cancelled: record.stopReason === "cancel",
        interrupted,
        duration: durationFromMs(Math.max(0, Math.round(endedAt - record.launchedAtMs))),
        iterationDir: iterationName(record.iteration),
        stdoutTail: stdoutTail!.tail(),
        stderrTail: interrupted ? [stderr, INTERRUPTED_MESSAGE].filter(Boolean).join("\n") : stderr,
        outputFiles: await listOutputFiles(path.join(this.dir, OUTPUTS_DIR)),
        peakMemoryBytes: BigInt(seen?.peakMemory ?? 0),
      });
      record.state = "finished";
      record.result = Buffer.from(toBinary(ExecutionResultSchema, result)).toString("base64");
      record.reportId = randomUUID();
      await this.persist();
      this.settle(result);
    } catch (error) {
      this.fail(error);
    }
  }

  /** Writes the record as it is now, after any write already under way. */
  private persist(): Promise<void> {
    const write = this.writes.then(async () => {
      if (this.abandoned || !this.record) return;
      await writeRunRecord(this.dir, { ...this.record });
    });
    this.writes = write.catch(() => undefined);
    return write;
  }
}
