import type { ExecutionResult, Program } from "@mlzero/proto";
import type { TaskWorkspace } from "@mlzero/workspace";

/** What a runner reports while a program runs. */
export interface ProgressUpdate {
  elapsedMs: number;
  /** Last lines of stdout and stderr, interleaved in arrival order. */
  logTail: string;
}

/** One program run: where, what, and within which limits. */
export interface RunRequest {
  taskId: string;
  tenant: string;
  /** 1-based iteration; the program runs in `workspace.iterationDir(iteration)`. */
  iteration: number;
  program: Program;
  workspace: TaskWorkspace;
  /** Wall-clock limit; 0 uses the runner's default. */
  timeLimitMs: number;
  /** Memory limit of each process of the program; 0 uses the runner's default. */
  memoryLimitBytes: number;
  gpus: number;
  onProgress?: (update: ProgressUpdate) => void;
  /**
   * Opaque bytes kept in the durable run record, so that whoever started the
   * run can still report it after a restart (the executor module keeps the
   * CodeGenerated event that asked for the run).
   */
  context?: Uint8Array;
}

/** A run that has been started or adopted. */
export interface RunHandle {
  /** True when this call started the program; false when it took over a run already recorded. */
  launched: boolean;
  /** True when the run's result was already reported: there is nothing left to do. */
  reported: boolean;
  /** True when the run waits for the runner's capacity: recorded, not running yet. */
  queued: boolean;
  /** Resolves once the program runs (at once unless queued; never for an abandoned run). */
  started: Promise<void>;
  /** The run's result once it ends (at once for a run that has already ended). */
  result: Promise<ExecutionResult>;
  /** Id to report the result under, the same for every handle of this run; set once `result` resolves. */
  reportId(): string;
  /** Id to announce the run under (its ExecutionStarted), the same for every handle of this launch. */
  startId(): string;
  /** Records that the result was reported, so no later handle reports it again. */
  markReported(): Promise<void>;
}

/**
 * Runs generated programs. The local runner uses a sandboxed subprocess;
 * a Kubernetes runner implements the same contract with Jobs.
 *
 * A run is durable: it outlives the executor process that started it. Its
 * record lives with the iteration, so a runner in a restarted executor takes
 * it over (adopts it) instead of running the program a second time.
 */
export interface ProgramRunner {
  /**
   * Starts the run, or adopts the one recorded for the same candidate and
   * program in the iteration folder (running: waits for it; ended: reports
   * it). Resolves once the run is durable, so that a restarted executor
   * would find it; the result comes later through the handle.
   */
  start(request: RunRequest): Promise<RunHandle>;
  /**
   * Adopts whatever run is recorded in an iteration folder without a
   * request (after a restart, to enforce its limits and record its end);
   * undefined when there is nothing to adopt.
   */
  adopt(iterationDir: string): Promise<RunHandle | undefined>;
  /** Stages and runs the program to completion (or timeout, or cancel): start, then wait. */
  run(request: RunRequest): Promise<ExecutionResult>;
  /** Kills every run of the task; true when at least one was running. */
  cancel(tenant: string, taskId: string): Promise<boolean>;
}
