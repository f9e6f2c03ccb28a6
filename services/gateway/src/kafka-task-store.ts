import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { createKafkaCompactedTopic, type CompactedRecord, type CompactedTopic } from "@mlzero/bus-kafka";
import { describeError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import { KeyedQueue } from "@mlzero/pipeline";
import { WatchResponseSchema, type WatchResponse } from "@mlzero/proto";
import { SNAPSHOT_HISTORY_LIMIT, taskSnapshotFromJson, taskSnapshotToJson, type TaskSnapshot, type TaskStore } from "./task-store.js";

/** The compacted topic of the gateway's task state. */
export const TASK_STATE_TOPIC = "mlzero.task-state.v1";

/** Options for {@link createCompactedTopicTaskStore}. */
export interface CompactedTopicTaskStoreOptions {
  /** The keyed log the records go to. */
  log: CompactedTopic;
  logger: Logger;
}

const TASK_PREFIX = "task/";
const UPDATE_PREFIX = "update/";

/** Where a task's snapshot (without its Watch updates) lives. */
const taskKey = (taskId: string) => `${TASK_PREFIX}${taskId}`;
/** Where one of a task's Watch updates lives. */
const updateKey = (taskId: string, sequence: bigint) => `${UPDATE_PREFIX}${taskId}/${sequence}`;

/** The update sequences of a task known to be in the log, `first` to `last`; none when first > last. */
interface Written {
  first: bigint;
  last: bigint;
}

/**
 * A task store in a compacted log. Each task has one record for its
 * snapshot without the Watch updates (`task/<taskId>`, the snapshot JSON of
 * {@link taskSnapshotToJson}) and one per kept Watch update
 * (`update/<taskId>/<sequence>`, the protobuf bytes). A save writes the
 * updates not written before, tombstones for the updates that fell out of
 * the kept window, then the snapshot: a small write per event however long
 * the history, like the file store's append. All of a task's records go to
 * the partition of its id in one batch, so a save lands whole or not at all;
 * one that fails is written again, whole, by the next save of that task.
 * A delete writes tombstones for all of a task's records, in one batch too.
 *
 * Loading reads the log to its end and joins each snapshot with its updates
 * up to the snapshot's sequence (the latest {@link SNAPSHOT_HISTORY_LIMIT}).
 */
export function createCompactedTopicTaskStore(options: CompactedTopicTaskStoreOptions): TaskStore {
  const { log, logger } = options;
  const written = new Map<string, Written>();
  // Keys found at load that no snapshot keeps: deleted with the task's next save.
  const strays = new Map<string, string[]>();
  // Saves and deletes of one task run in order, each writing what it was given.
  const queue = new KeyedQueue();

  async function write(taskId: string, head: string, history: readonly WatchResponse[]): Promise<void> {
    const state = written.get(taskId);
    const fresh = state ? history.filter((update) => update.sequence > state.last) : history;
    const first = history[0]?.sequence;
    const records: CompactedRecord[] = fresh.map((update) => ({
      key: updateKey(taskId, update.sequence),
      value: toBinary(WatchResponseSchema, update),
    }));
    if (state && first !== undefined) {
      for (let sequence = state.first; sequence < first && sequence <= state.last; sequence++) {
        records.push({ key: updateKey(taskId, sequence), value: undefined });
      }
    }
    for (const key of strays.get(taskId) ?? []) records.push({ key, value: undefined });
    // The snapshot last: a reader never finds one whose updates are missing.
    records.push({ key: taskKey(taskId), value: head });
    await log.write(taskId, records);
    strays.delete(taskId);
    written.set(taskId, {
      first: first ?? state?.first ?? 1n,
      last: fresh.at(-1)?.sequence ?? state?.last ?? 0n,
    });
  }

  /** Writes tombstones for the task's snapshot, its updates in the log and its strays, in one batch. */
  async function forget(taskId: string): Promise<void> {
    const records: CompactedRecord[] = [{ key: taskKey(taskId), value: undefined }];
    const state = written.get(taskId);
    if (state)
      for (let sequence = state.first; sequence <= state.last; sequence++)
        records.push({ key: updateKey(taskId, sequence), value: undefined });
    for (const key of strays.get(taskId) ?? []) records.push({ key, value: undefined });
    await log.write(taskId, records);
    written.delete(taskId);
    strays.delete(taskId);
  }

  return {
    async loadAll() {
      const records = await log.readAll();
      const heads = new Map<string, Buffer>();
      const updates = new Map<string, Map<bigint, Buffer>>();
      for (const [key, value] of records) {
        if (key.startsWith(TASK_PREFIX)) {
          heads.set(key.slice(TASK_PREFIX.length), value);
          continue;
        }
        const separator = key.lastIndexOf("/");
        const sequence = key.slice(separator + 1);
        if (!key.startsWith(UPDATE_PREFIX) || separator < UPDATE_PREFIX.length || !/^\d+$/.test(sequence)) {
          logger.warn({ key }, "skipped a record of the task state log that is not the gateway's");
          continue;
        }
        const taskId = key.slice(UPDATE_PREFIX.length, separator);
        const ofTask = updates.get(taskId) ?? new Map<bigint, Buffer>();
        ofTask.set(BigInt(sequence), value);
        updates.set(taskId, ofTask);
      }
      const snapshots: TaskSnapshot[] = [];
      for (const [taskId, head] of heads) {
        let snapshot: TaskSnapshot;
        try {
          snapshot = taskSnapshotFromJson(head.toString("utf8"));
        } catch (error) {
          // Only a foreign writer puts such a record here; the task is lost
          // either way, and the gateway serves the others.
          logger.error({ taskId, err: describeError(error) }, "skipped a task whose saved state does not decode");
          continue;
        }
        const ofTask = [...(updates.get(taskId) ?? new Map<bigint, Buffer>())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        // Past the snapshot's sequence: never written (a save lands whole), but kept out all the same.
        const inRange = ofTask.filter(([sequence]) => sequence <= snapshot.task.sequence);
        const kept = inRange.slice(-SNAPSHOT_HISTORY_LIMIT);
        const keptSequences = new Set(kept.map(([sequence]) => sequence));
        const unkept = ofTask.filter(([sequence]) => !keptSequences.has(sequence)).map(([sequence]) => updateKey(taskId, sequence));
        if (unkept.length > 0) strays.set(taskId, unkept);
        snapshot.history = kept.map(([, value]) => fromBinary(WatchResponseSchema, value));
        const last = snapshot.history.at(-1)?.sequence ?? snapshot.task.sequence;
        written.set(taskId, { first: snapshot.history[0]?.sequence ?? last + 1n, last });
        snapshots.push(snapshot);
      }
      return snapshots;
    },

    save(snapshot) {
      const taskId = snapshot.task.taskId;
      // Encoded now: the board goes on changing its task and context in place
      // (its Watch updates are never changed once made).
      const head = taskSnapshotToJson({ ...snapshot, history: [] });
      const history = [...snapshot.history];
      return queue.run(taskId, () => write(taskId, head, history));
    },

    delete(taskId) {
      return queue.run(taskId, () => forget(taskId));
    },

    async close() {
      await queue.idle();
      await log.close();
    },
  };
}

/** Options for {@link createKafkaTaskStore}. */
export interface KafkaTaskStoreOptions {
  /** Bootstrap brokers, "host:port". */
  brokers: string[];
  clientId: string;
  logger: Logger;
  /** The compacted topic (default {@link TASK_STATE_TOPIC}). */
  topic?: string;
  /** Partitions of the topic when the store creates it (default 8). */
  partitions?: number;
  /** Its replication factor when the store creates it (default 1). */
  replicationFactor?: number;
}

/**
 * The gateway's task state in a compacted Kafka topic (see
 * {@link createCompactedTopicTaskStore}), created with cleanup.policy=compact
 * on first use. A gateway on any host rebuilds its board from it.
 */
export function createKafkaTaskStore(options: KafkaTaskStoreOptions): TaskStore {
  const { logger } = options;
  const log = createKafkaCompactedTopic({
    brokers: options.brokers,
    clientId: options.clientId,
    logger,
    topic: options.topic ?? TASK_STATE_TOPIC,
    partitions: options.partitions,
    replicationFactor: options.replicationFactor,
  });
  return createCompactedTopicTaskStore({ log, logger });
}
