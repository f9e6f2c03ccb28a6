import { clone, create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { TaskSchema, TaskState, WatchResponseSchema, type Task, type TaskContext, type WatchResponse } from "@mlzero/proto";
import { StageTimings } from "./stage-timings.js";
import { SNAPSHOT_HISTORY_LIMIT, type TaskSnapshot } from "./task-store.js";

/** Updates kept per task for `Watch` replay; older ones are dropped first. */
const HISTORY_LIMIT = 2_000;

/** Event ids kept per task to drop redeliveries; far more than can be in flight for one task. */
const SEEN_EVENT_IDS_LIMIT = 64;

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
  /** The Submit idempotency key that created the task; "" when none. */
  idempotencyKey: string;
  /** Ids of the latest events applied, oldest first. */
  seenEventIds: string[];
}

/** True once a task can change no more. */
export function isTerminal(state: TaskState): boolean {
  return state === TaskState.SUCCEEDED || state === TaskState.FAILED || state === TaskState.CANCELLED;
}

/**
 * What a change reports: `false` when it found nothing to change (an event
 * seen before, or one the task has moved past), so no update is recorded.
 */
export type Change = (task: Task, record: TaskRecord) => boolean | void;

/**
 * The gateway's task state projection: the current view of every task and
 * a numbered history of its updates that `Watch` replays and follows. It
 * snapshots and restores each task, so a gateway rebuilds it after a restart.
 */
export class TaskBoard {
  private readonly records = new Map<string, TaskRecord>();

  add(task: Task, idempotencyKey = ""): TaskRecord {
    const record = this.newRecord(task, idempotencyKey);
    this.records.set(task.taskId, record);
    this.push(record, "TaskSubmitted", "");
    return record;
  }

  /** Puts back tasks from their snapshots, oldest first, so List keeps its order. */
  restoreAll(snapshots: TaskSnapshot[]): TaskRecord[] {
    return [...snapshots].sort((a, b) => compareCreated(a.task, b.task)).map((snapshot) => this.restore(snapshot));
  }

  /** Puts back a task from its snapshot, as it was (sequence and Watch history included). */
  restore(snapshot: TaskSnapshot): TaskRecord {
    const record = this.newRecord(snapshot.task, snapshot.idempotencyKey);
    record.history = [...snapshot.history];
    record.timings = new StageTimings(snapshot.marks);
    record.context = snapshot.context;
    record.rank = snapshot.rank;
    record.seenEventIds = [...snapshot.seenEventIds];
    this.records.set(snapshot.task.taskId, record);
    return record;
  }

  /** What a store keeps of a task: the task, its projection state and its latest Watch updates. */
  snapshot(taskId: string): TaskSnapshot | undefined {
    const record = this.records.get(taskId);
    if (!record) return undefined;
    return {
      task: record.task,
      idempotencyKey: record.idempotencyKey,
      context: record.context,
      marks: record.timings.toRecord(),
      rank: record.rank,
      seenEventIds: record.seenEventIds,
      history: record.history.slice(-SNAPSHOT_HISTORY_LIMIT),
    };
  }

  /** Forgets a task (one whose creation could not be saved, or ended past its retention). */
  remove(taskId: string): void {
    this.records.delete(taskId);
  }

  get(taskId: string): TaskRecord | undefined {
    return this.records.get(taskId);
  }

  /** Tasks, newest first. */
  all(): Task[] {
    return [...this.records.values()].map((record) => record.task).reverse();
  }

  /**
   * Applies a change to a task and tells its watchers; ignored once the task
   * is terminal, for an event id applied before, and when the change reports
   * nothing changed. True when an update was recorded.
   */
  update(taskId: string, event: string, change: Change, logTail = "", eventId = ""): boolean {
    const record = this.records.get(taskId);
    if (!record || isTerminal(record.task.state)) return false;
    if (eventId && record.seenEventIds.includes(eventId)) return false;
    if (change(record.task, record) === false) return false;
    if (eventId) {
      record.seenEventIds.push(eventId);
      if (record.seenEventIds.length > SEEN_EVENT_IDS_LIMIT) record.seenEventIds.shift();
    }
    this.push(record, event, logTail);
    return true;
  }

  /**
   * Updates of a task after `afterSequence`, then live ones, until the task
   * is terminal or `signal` aborts. While nothing happens, a heartbeat every
   * `heartbeatMs` (0: none): the latest sequence sent (resume after it) and
   * the task as it is, `heartbeat` set.
   */
  async *watch(taskId: string, afterSequence: bigint, signal: AbortSignal, heartbeatMs = 0): AsyncGenerator<WatchResponse> {
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
      const woke = await new Promise<"update" | "heartbeat">((resolve) => {
        let timer: NodeJS.Timeout | undefined;
        const wake = (why: "update" | "heartbeat") => {
          clearTimeout(timer);
          record.listeners.delete(onUpdate);
          signal.removeEventListener("abort", onUpdate);
          resolve(why);
        };
        const onUpdate = () => wake("update");
        record.listeners.add(onUpdate);
        signal.addEventListener("abort", onUpdate, { once: true });
        if (heartbeatMs > 0) timer = setTimeout(() => wake("heartbeat"), heartbeatMs);
      });
      if (woke === "heartbeat" && !signal.aborted && !record.history.some((update) => update.sequence > next)) {
        yield create(WatchResponseSchema, {
          sequence: next,
          time: timestampNow(),
          event: "Heartbeat",
          task: clone(TaskSchema, record.task),
          heartbeat: true,
        });
      }
    }
  }

  private newRecord(task: Task, idempotencyKey: string): TaskRecord {
    return {
      task,
      history: [],
      timings: new StageTimings(),
      context: undefined,
      listeners: new Set(),
      rank: 0,
      idempotencyKey,
      seenEventIds: [],
    };
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

/** Creation order; task ids (time-based) break ties. */
function compareCreated(a: Task, b: Task): number {
  const seconds = Number((a.createdAt?.seconds ?? 0n) - (b.createdAt?.seconds ?? 0n));
  if (seconds !== 0) return seconds;
  const nanos = (a.createdAt?.nanos ?? 0) - (b.createdAt?.nanos ?? 0);
  return nanos !== 0 ? nanos : a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0;
}
