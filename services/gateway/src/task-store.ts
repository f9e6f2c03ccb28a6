import { clone, fromBinary, toBinary } from "@bufbuild/protobuf";
import { TaskContextSchema, TaskSchema, WatchResponseSchema, type Task, type TaskContext, type WatchResponse } from "@mlzero/proto";

/**
 * What survives a gateway restart for one task: everything the board needs
 * to answer Get, List and Watch, to keep projecting events without moving
 * the task back, and to finish it.
 */
export interface TaskSnapshot {
  /** The task as clients see it, with its sequence number. */
  task: Task;
  /** The Submit idempotency key that created it; "" when none. */
  idempotencyKey: string;
  /** The latest full context seen in an event (perception, attempts), for the report. */
  context: TaskContext | undefined;
  /** Stage timing marks ("generated:2" → epoch ms). */
  marks: Record<string, number>;
  /** Progress of the loop (iteration × step), so a late event never moves the state back. */
  rank: number;
  /** Ids of the latest events applied, oldest first (bounded), so a redelivered one is dropped. */
  seenEventIds: string[];
  /**
   * The latest Watch updates, oldest first, so Watch resumes from a sequence
   * number after a restart. Capped at {@link SNAPSHOT_HISTORY_LIMIT}; a
   * store may keep fewer (a resume from before the oldest kept replays what
   * is kept).
   */
  history: WatchResponse[];
}

/** Watch updates a snapshot carries. */
export const SNAPSHOT_HISTORY_LIMIT = 200;

/**
 * Where the gateway keeps its task state so it can rebuild its board after a
 * restart. The gateway saves a task's snapshot after every change, before
 * the event or call that changed it completes, and loads them all at start.
 * Implementations: in memory (one process), files (one file per task, below),
 * a compacted Kafka topic keyed by task id (with the Kafka bus).
 */
export interface TaskStore {
  /** Every task saved, in any order. */
  loadAll(): Promise<TaskSnapshot[]>;
  /** Saves a task's latest snapshot; a later save of the same task replaces it. */
  save(snapshot: TaskSnapshot): Promise<void>;
  /** Forgets a task, after its saves in flight: {@link loadAll} no longer returns it. Deleting a missing task does nothing. */
  delete(taskId: string): Promise<void>;
  /** Releases what the store holds. */
  close?(): Promise<void>;
}

/**
 * A store in memory: the default, for one process (embedded mode, tests). A
 * gateway module rebuilt on the same store finds the tasks, as after a restart.
 */
export function createMemoryTaskStore(): TaskStore {
  const saved = new Map<string, string>();
  return {
    async loadAll() {
      return [...saved.values()].map(taskSnapshotFromJson);
    },
    async save(snapshot) {
      // Serialised at once, so later changes to the board's objects do not leak in.
      saved.set(snapshot.task.taskId, taskSnapshotToJson(snapshot));
    },
    async delete(taskId) {
      saved.delete(taskId);
    },
  };
}

interface StoredSnapshot {
  version: 1;
  task: string;
  idempotencyKey?: string;
  context?: string;
  marks: Record<string, number>;
  rank: number;
  seenEventIds: string[];
  history: string[];
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const bytes = (text: string) => Buffer.from(text, "base64");

/**
 * A snapshot as one line of JSON (protobuf messages as base64 bytes), the
 * form the file store writes and a Kafka store can use as its record value.
 */
export function taskSnapshotToJson(snapshot: TaskSnapshot): string {
  const stored: StoredSnapshot = {
    version: 1,
    task: base64(toBinary(TaskSchema, snapshot.task)),
    idempotencyKey: snapshot.idempotencyKey || undefined,
    context: snapshot.context ? base64(toBinary(TaskContextSchema, snapshot.context)) : undefined,
    marks: snapshot.marks,
    rank: snapshot.rank,
    seenEventIds: snapshot.seenEventIds,
    history: snapshot.history.map((update) => base64(toBinary(WatchResponseSchema, update))),
  };
  return JSON.stringify(stored);
}

/** The snapshot in a line written by {@link taskSnapshotToJson}; throws on anything else. */
export function taskSnapshotFromJson(text: string): TaskSnapshot {
  const stored = JSON.parse(text) as StoredSnapshot;
  if (stored.version !== 1 || typeof stored.task !== "string") throw new Error("not a task snapshot");
  return {
    task: fromBinary(TaskSchema, bytes(stored.task)),
    idempotencyKey: stored.idempotencyKey ?? "",
    context: stored.context ? fromBinary(TaskContextSchema, bytes(stored.context)) : undefined,
    marks: stored.marks ?? {},
    rank: stored.rank ?? 0,
    seenEventIds: stored.seenEventIds ?? [],
    history: (stored.history ?? []).map((update) => fromBinary(WatchResponseSchema, bytes(update))),
  };
}

/** A deep copy of a snapshot. */
export function cloneTaskSnapshot(snapshot: TaskSnapshot): TaskSnapshot {
  return {
    ...snapshot,
    task: clone(TaskSchema, snapshot.task),
    context: snapshot.context && clone(TaskContextSchema, snapshot.context),
    marks: { ...snapshot.marks },
    seenEventIds: [...snapshot.seenEventIds],
    history: snapshot.history.map((update) => clone(WatchResponseSchema, update)),
  };
}
