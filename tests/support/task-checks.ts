import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { MemoryService, TaskService, TaskState, type Episode, type Task, type WatchResponse } from "@mlzero/proto";
import { createClient, type RpcClient } from "@mlzero/rpc";
import { expect } from "vitest";

// What the distributed tests ask of a task through the public API and its
// workspace: submit, wait, the Watch replay, and how often each iteration's
// program was launched (the executor's launches.log).

export type TaskClient = RpcClient<typeof TaskService>;

/** Polls `check` until it returns true (or a value), failing with `what` after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error; // e.g. a gateway restarting: ask again
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await sleep(intervalMs);
  }
}

/** Options of one generated task's submission. */
export interface SubmitOptions {
  tool?: string;
  maxIterations?: number;
  timeLimitSeconds?: number;
  iterationTimeLimitSeconds?: number;
  description?: string;
  idempotencyKey?: string;
}

/** Submits a data folder; resolves with the new task's id. */
export async function submitTask(tasks: TaskClient, inputDir: string, options: SubmitOptions = {}): Promise<string> {
  const { task } = await tasks.submit({
    spec: {
      inputUri: inputDir,
      description: options.description ?? "",
      budget: {
        toolHint: options.tool ?? "",
        maxIterations: options.maxIterations ?? 0,
        timeLimit: options.timeLimitSeconds ? durationFromMs(options.timeLimitSeconds * 1000) : undefined,
        iterationTimeLimit: options.iterationTimeLimitSeconds ? durationFromMs(options.iterationTimeLimitSeconds * 1000) : undefined,
      },
    },
    idempotencyKey: options.idempotencyKey ?? "",
  });
  return task!.taskId;
}

const TERMINAL = new Set([TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED]);

/** Whether a task has ended. */
export const isFinished = (task: Task | undefined): boolean => task !== undefined && TERMINAL.has(task.state);

/** Polls Get until the task ends (riding out a gateway that is down meanwhile); resolves with it. */
export function waitFinished(tasks: TaskClient, taskId: string, timeoutMs: number): Promise<Task> {
  return eventually(
    `task ${taskId} to finish`,
    async () => {
      const { task } = await tasks.get({ taskId }, { timeoutMs: 5_000 });
      return isFinished(task) ? task : undefined;
    },
    timeoutMs,
    250,
  );
}

/** Polls Get until `predicate` holds of the task; resolves with it. */
export function waitTask(
  tasks: TaskClient,
  taskId: string,
  what: string,
  predicate: (task: Task) => boolean,
  timeoutMs = 60_000,
): Promise<Task> {
  return eventually(
    `task ${taskId}: ${what}`,
    async () => {
      const { task } = await tasks.get({ taskId }, { timeoutMs: 5_000 });
      return task && predicate(task) ? task : undefined;
    },
    timeoutMs,
    50,
  );
}

/** A finished task's whole Watch history, replayed from sequence 0 until the stream ends. */
export async function watchReplay(tasks: TaskClient, taskId: string, timeoutMs = 30_000): Promise<WatchResponse[]> {
  const updates: WatchResponse[] = [];
  for await (const update of tasks.watch({ taskId, afterSequence: 0n }, { timeoutMs })) updates.push(update);
  return updates;
}

/** The numbers of the iteration folders (iter-001, ...) of a task. */
export async function iterationNumbers(workspaceRoot: string, taskId: string, tenant = "default"): Promise<number[]> {
  const dir = path.join(workspaceRoot, tenant, taskId);
  if (!existsSync(dir)) return [];
  return (await readdir(dir))
    .map((name) => /^iter-(\d+)$/.exec(name)?.[1])
    .filter((number): number is string => number !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** The iteration folder of a task. */
export function iterationDir(workspaceRoot: string, taskId: string, iteration: number, tenant = "default"): string {
  return path.join(workspaceRoot, tenant, taskId, `iter-${String(iteration).padStart(3, "0")}`);
}

/** Lines of an iteration's launches.log: one per program launch (the run's launcher appends it as it starts). */
export async function launchLines(workspaceRoot: string, taskId: string, iteration: number, tenant = "default"): Promise<string[]> {
  const file = path.join(iterationDir(workspaceRoot, taskId, iteration, tenant), "launches.log");
  if (!existsSync(file)) return [];
  return (await readFile(file, "utf8")).split("\n").filter((line) => line.trim() !== "");
}

/** Whether an iteration's program has ended (the launcher wrote its exit status). */
export function programEnded(workspaceRoot: string, taskId: string, iteration = 1, tenant = "default"): boolean {
  return existsSync(path.join(iterationDir(workspaceRoot, taskId, iteration, tenant), "exit-status"));
}

/**
 * Waits until an iteration's program has been launched (its launches.log
 * line is written) and has not ended; resolves with that line.
 */
export function waitProgramRunning(workspaceRoot: string, taskId: string, iteration = 1, timeoutMs = 60_000): Promise<string> {
  return eventually(
    `iteration ${iteration} of ${taskId} to run its program`,
    async () => {
      const [line] = await launchLines(workspaceRoot, taskId, iteration);
      return line && !programEnded(workspaceRoot, taskId, iteration) ? line : undefined;
    },
    timeoutMs,
    20,
  );
}

/** Program launches by iteration, for every iteration folder of a task. */
export async function launchesByIteration(workspaceRoot: string, taskId: string, tenant = "default"): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (const iteration of await iterationNumbers(workspaceRoot, taskId, tenant)) {
    counts.set(iteration, (await launchLines(workspaceRoot, taskId, iteration, tenant)).length);
  }
  return counts;
}

/** A task's episodes in the memory service (one per analysed iteration). */
export async function episodesOf(memoryAddress: string, taskId: string, tenant = "default"): Promise<Episode[]> {
  const memory = createClient(MemoryService, memoryAddress);
  try {
    return (await memory.listEpisodes({ tenant, taskId })).episodes;
  } finally {
    memory.close();
  }
}

/** What a finished task went through, for assertions and failure messages. */
export interface TaskAccount {
  task: Task;
  /** Watch replay from the start. */
  updates: WatchResponse[];
  /** Event types of the replay, in order. */
  events: string[];
  launches: Map<number, number>;
  episodes: Episode[];
}

/**
 * Collects a finished task's Get, Watch replay, launches and episodes.
 * Memory records an episode from IterationAnalyzed on its own consumer, which
 * may lag behind the gateway's: it waits up to `episodesWaitMs` for one
 * episode per iteration the gateway reports (and returns what there is then).
 */
export async function accountFor(
  tasks: TaskClient,
  memoryAddress: string,
  workspaceRoot: string,
  taskId: string,
  episodesWaitMs = 60_000,
): Promise<TaskAccount> {
  const { task } = await tasks.get({ taskId });
  const updates = await watchReplay(tasks, taskId);
  const wanted = task!.iterations.length;
  const episodes = await eventually(
    "memory's episodes",
    async () => {
      const found = await episodesOf(memoryAddress, taskId);
      return found.length >= wanted ? found : undefined;
    },
    episodesWaitMs,
    250,
  ).catch(() => episodesOf(memoryAddress, taskId));
  return {
    task: task!,
    updates,
    events: updates.map((update) => update.event),
    launches: await launchesByIteration(workspaceRoot, taskId),
    episodes,
  };
}

/** One line per fact of an account, for assertion messages. */
export function describeAccount(account: TaskAccount): string {
  const task = account.task;
  return [
    `task ${task.taskId}: ${TaskState[task.state]} "${task.message}", iteration ${task.iteration}, tool ${task.tool}`,
    `iterations (Get): ${task.iterations.map((item) => `${item.iteration}:${item.candidateId}:${item.verdict}`).join(", ") || "none"}`,
    `launches: ${[...account.launches].map(([iteration, count]) => `iter-${iteration}=${count}`).join(", ") || "none"}`,
    `episodes: ${account.episodes.map((episode) => `${episode.iteration}:${episode.candidateId}`).join(", ") || "none"}`,
    `watch: ${account.updates.map((update) => `${update.sequence}:${update.event}`).join(" ")}`,
  ].join("\n");
}

/** The pipeline events a finished iteration must have left in the Watch replay (progress is optional). */
export const ITERATION_EVENTS = ["CodeGenerated", "ExecutionStarted", "ExecutionFinished", "IterationAnalyzed"] as const;

/** Options for {@link expectCompletedOnce}. */
export interface CompletedOnceOptions {
  /**
   * Each event type has its own topic, so the gateway may hear a task's
   * TaskFinished before the last iteration's ExecutionFinished or
   * IterationAnalyzed, and drops what comes after the end (the iterations in
   * Get are completed from TaskFinished's attempts). True: those may be
   * missing from the Watch replay (never doubled). Under load only; one task
   * at a time keeps the strict check.
   */
  lastStepsMayFollowFinish?: boolean;
  /**
   * An iteration whose run was lost with its machine: its program was
   * launched twice; the gateway shows each of its steps once.
   */
  relaunched?: number;
}

/**
 * The task succeeded with nothing lost or repeated: each iteration the
 * gateway reports launched its program exactly once (launches.log; twice for
 * the one `relaunched`) and left
 * its episode in memory, no other iteration ran, and the Watch replay is
 * numbered without gaps, holds every stage of every iteration once, and ends
 * in success with a predictions file.
 */
export function expectCompletedOnce(account: TaskAccount, explain: string, options: CompletedOnceOptions = {}): void {
  const task = account.task;
  expect(task.state, explain).toBe(TaskState.SUCCEEDED);
  const iterations = task.iterations.map((item) => item.iteration);
  expect(iterations.length, explain).toBeGreaterThan(0);
  const launches = (iteration: number) => (iteration === options.relaunched ? 2 : 1);
  expect(Object.fromEntries(account.launches), explain).toEqual(
    Object.fromEntries(iterations.map((iteration) => [iteration, launches(iteration)])),
  );
  expect(
    account.episodes.map((episode) => episode.iteration).sort((a, b) => a - b),
    explain,
  ).toEqual(iterations);
  expect(
    account.updates.map((update) => Number(update.sequence)),
    explain,
  ).toEqual(account.updates.map((_, index) => index + 1));
  // Submit records the task; the gateway's own TaskSubmitted from the bus may add a second entry.
  expect(account.events[0], explain).toBe("TaskSubmitted");
  for (const event of ["TaskPerceived", "TaskFinished"]) {
    expect(
      account.events.filter((name) => name === event),
      `${event}\n${explain}`,
    ).toHaveLength(1);
  }
  // One of each step per iteration. Counted over the replay: an update
  // shows the task's iteration, which a late event's is not.
  for (const event of ITERATION_EVENTS) {
    const count = account.events.filter((name) => name === event).length;
    const mayMiss = options.lastStepsMayFollowFinish && (event === "ExecutionFinished" || event === "IterationAnalyzed");
    expect(count, `${event}\n${explain}`).toBeLessThanOrEqual(iterations.length);
    expect(count, `${event}\n${explain}`).toBeGreaterThanOrEqual(mayMiss ? iterations.length - 1 : iterations.length);
  }
  expect(account.updates.at(-1)?.task?.state, explain).toBe(TaskState.SUCCEEDED);
  expect(existsSync(path.join(task.outputDir, task.predictionsFile)), explain).toBe(true);
}
