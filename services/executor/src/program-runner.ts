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
}

/**
 * Runs generated programs. The local runner uses a sandboxed subprocess;
 * a Kubernetes runner implements the same contract with Jobs.
 */
export interface ProgramRunner {
  /** Stages and runs the program to completion (or timeout, or cancel). */
  run(request: RunRequest): Promise<ExecutionResult>;
  /** Kills every run of the task; true when at least one was running. */
  cancel(tenant: string, taskId: string): Promise<boolean>;
}
