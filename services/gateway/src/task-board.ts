import { clone, create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { TaskSchema, TaskState, WatchResponseSchema, type Task, type TaskContext, type WatchResponse } from "@mlzero/proto";
import { StageTimings } from "./stage-timings.js";

/** Updates kept per task for `Watch` replay; older ones are dropped first. */
const HISTORY_LIMIT = 2_000;

/** Everything the gateway keeps about one task. */
export interface TaskRecord {
  task: Task;
  history: WatchResponse[];
  timings: StageTimings;
  /** The latest full context seen in an event (perception, attempts). */
  context: TaskContext | undefined;
  listeners: Set<() => void>;
  /** Progress of the loop (iteration × step), so a late event never moves the state back. */
  rank: number;
}

/** True once a task can change no more. */
export function isTerminal(state: TaskState): boolean {
  return state === TaskState.SUCCEEDED || state === TaskState.FAILED || state === TaskState.CANCELLED;
}

/**
 * The gateway's task state projection: the current view of every task and
 * a numbered history of its updates that `Watch` replays and follows.
 */
export class TaskBoard {
  private readonly records = new Map<string, TaskRecord>();

  add(task: Task): TaskRecord {
    const record: TaskRecord = { task, history: [], timings: new StageTimings(), context: undefined, listeners: new Set(), rank: 0 };
    this.records.set(task.taskId, record);
    this.push(record, "TaskSubmitted", "");
    return record;
  }

  get(taskId: string): TaskRecord | undefined {
    return this.records.get(taskId);
  }

  /** Tasks, newest first. */
  all(): Task[] {
    return [...this.records.values()].map((record) => record.task).reverse();
  }

  /** Applies a change to a task and tells its watchers; ignored once the task is terminal. */
  update(taskId: string, event: string, change: (task: Task, record: TaskRecord) => void, logTail = ""): void {
    const record = this.records.get(taskId);
    if (!record || isTerminal(record.task.state)) return;
    change(record.task, record);
    this.push(record, event, logTail);
  }

  /**
   * Updates of a task after `afterSequence`, then live ones, until the task
   * is terminal or `signal` aborts.
   */
  async *watch(taskId: string, afterSequence: bigint, signal: AbortSignal): AsyncGenerator<WatchResponse> {
    const record = this.records.get(taskId);
    if (!record) return;
    let next = afterSequence;
    for (;;) {
      const pending = record.history.filter((update) => update.sequence > next);
      for (const update of pending) {
        yield update;
        next = update.sequence;
      }
      // Updates may have arrived while the consumer held the last one.
      if (record.history.some((update) => update.sequence > next)) continue;
      if (isTerminal(record.task.state) || signal.aborted) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          record.listeners.delete(wake);
          signal.removeEventListener("abort", wake);
          resolve();
        };
        record.listeners.add(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
  }

  private push(record: TaskRecord, event: string, logTail: string): void {
    const time = timestampNow();
    record.task.sequence += 1n;
    record.task.updatedAt = time;
    record.history.push(
      create(WatchResponseSchema, { sequence: record.task.sequence, time, event, task: clone(TaskSchema, record.task), logTail }),
    );
    if (record.history.length > HISTORY_LIMIT) record.history.splice(0, record.history.length - HISTORY_LIMIT);
    for (const listener of [...record.listeners]) listener();
  }
}
