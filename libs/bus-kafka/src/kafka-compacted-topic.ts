import { FailedPreconditionError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import { Partitioners, type PartitionMetadata } from "kafkajs";
import { ensureTopics } from "./ensure-topics.js";
import { createKafkaClient } from "./kafka-client.js";
import { KafkaUnavailableError } from "./kafka-unavailable-error.js";
import { readTopicToEnd } from "./read-to-end.js";
import { createSerialProducer } from "./serial-producer.js";

/** One record of a {@link CompactedTopic} write. */
export interface CompactedRecord {
  key: string;
  /** The key's new value; `undefined` deletes the key (a tombstone). */
  value: Uint8Array | string | undefined;
}

/**
 * A keyed store in a compacted topic: the broker keeps at least the latest
 * record of every key, so reading the topic from its start rebuilds the
 * latest value per key. Values are opaque bytes; what they mean belongs to
 * the caller.
 */
export interface CompactedTopic {
  /**
   * Every live key with its latest value, read from the beginning of the
   * topic up to its end as of the call. Slow in proportion to the topic's
   * size: meant for a process's start.
   */
  readAll(): Promise<Map<string, Buffer>>;
  /**
   * Appends the records, in order, to the partition of `partitionKey`, in one
   * record batch that the broker appends whole or not at all; resolves once
   * every in-sync replica has them. A key must always be written with the
   * same partition key, so its records stay in one ordered partition.
   */
  write(partitionKey: string, records: readonly CompactedRecord[]): Promise<void>;
  /** Waits for the writes in flight, then disconnects. */
  close(): Promise<void>;
}

/** Options for {@link createKafkaCompactedTopic}. */
export interface KafkaCompactedTopicOptions {
  /** Bootstrap brokers, "host:port". */
  brokers: string[];
  /** Names this process to the brokers (logs, quotas). */
  clientId: string;
  logger: Logger;
  topic: string;
  /** Partitions of the topic when this creates it (default 8). */
  partitions?: number;
  replicationFactor?: number;
  /**
   * How long the active segment stays open (default 1 h). The broker only
   * compacts closed segments, so this bounds how long superseded records
   * wait before compaction may drop them.
   */
  segmentMs?: number;
  /** Longest a {@link CompactedTopic.readAll} may take (default 60 s). */
  readTimeoutMs?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A {@link CompactedTopic} on Kafka. It connects on first use, creating the
 * topic when missing (cleanup.policy=compact, explicit partitions), so a
 * broker that cannot be reached fails the first call, not the construction.
 * Writes go through one idempotent producer whose sends are serialised, as
 * the bus's are; `readAll` reads through a throwaway consumer group.
 */
export function createKafkaCompactedTopic(options: KafkaCompactedTopicOptions): CompactedTopic {
  const { logger, topic } = options;
  const { kafka, admin, producer } = createKafkaClient({ clientId: options.clientId, brokers: options.brokers, logger });
  const serial = createSerialProducer(producer);
  // Java's murmur2 partitioning of the partition key, as for the bus's events.
  const partitionOf = Partitioners.DefaultPartitioner();
  let opened: Promise<PartitionMetadata[]> | undefined;
  let closed = false;

  async function open(): Promise<PartitionMetadata[]> {
    try {
      await admin.connect();
    } catch (error) {
      throw new KafkaUnavailableError(options.brokers, { cause: error });
    }
    await ensureTopics(
      admin,
      [
        {
          topic,
          partitions: options.partitions ?? 8,
          replicationFactor: options.replicationFactor ?? 1,
          cleanupPolicy: "compact",
          configs: {
            "segment.ms": String(options.segmentMs ?? 60 * 60 * 1000),
            // A superseded record may go as soon as its segment is closed.
            "min.compaction.lag.ms": "0",
            "min.cleanable.dirty.ratio": "0.5",
            // A deleted key's tombstone stays this long, so a reader that
            // started before compaction still sees the key go.
            "delete.retention.ms": String(DAY_MS),
          },
        },
      ],
      logger,
    );
    await producer.connect();
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    return topics[0]!.partitions;
  }

  const ready = () =>
    (opened ??= open().catch(async (error: unknown) => {
      opened = undefined; // the next call tries again
      await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
      throw error;
    }));

  const ensureOpen = () => {
    if (closed) throw new FailedPreconditionError(`the store on ${topic} is closed`);
  };

  return {
    async readAll() {
      ensureOpen();
      await ready();
      const latest = new Map<string, Buffer>();
      await readTopicToEnd({
        kafka,
        admin,
        topic,
        groupPrefix: `${options.clientId}-state-reader`,
        timeoutMs: options.readTimeoutMs ?? 60_000,
        eachMessage(message) {
          if (message.key === null) return;
          const key = message.key.toString();
          // Copied: a fetched value is a view into the whole fetch response.
          if (message.value === null) latest.delete(key);
          else latest.set(key, Buffer.from(message.value));
        },
      });
      return latest;
    },

    async write(partitionKey, records) {
      ensureOpen();
      const partitionMetadata = await ready();
      const partition = partitionOf({ topic, partitionMetadata, message: { key: partitionKey, value: null } });
      await serial.sendTogether(
        records.map(({ key, value }) => ({
          topic,
          message: {
            key,
            value:
              value === undefined
                ? null
                : typeof value === "string"
                  ? value
                  : Buffer.from(value.buffer, value.byteOffset, value.byteLength),
            partition,
          },
        })),
      );
    },

    async close() {
      if (closed) return;
      closed = true;
      if (!(await opened?.then(() => true).catch(() => false))) return;
      await serial.flush();
      await producer.disconnect();
      await admin.disconnect();
    },
  };
}
