import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Admin, Kafka, KafkaMessage } from "kafkajs";

/** Options for {@link readTopicToEnd}. */
export interface ReadTopicToEndOptions {
  kafka: Kafka;
  admin: Admin;
  topic: string;
  /** Names the throwaway consumer group (a random suffix follows). */
  groupPrefix: string;
  /** Called for every record, in offset order within a partition. */
  eachMessage(message: KafkaMessage, partition: number): void;
  /** Gives up after this long (the broker answers in well under a second). */
  timeoutMs?: number;
}

/**
 * Reads a topic from its oldest kept record up to its end as of the call,
 * and resolves; at once for an empty topic. kafkajs has no manual partition
 * assignment, so the read joins a throwaway consumer group (no committed
 * offsets, so it starts at the beginning), which it deletes afterwards.
 */
export async function readTopicToEnd(options: ReadTopicToEndOptions): Promise<void> {
  const { kafka, admin, topic } = options;
  const ends = await endOffsets(admin, topic);
  // Next offset to reach, per partition that holds any record.
  const remaining = new Map(ends.filter((end) => BigInt(end.high) > BigInt(end.low)).map((end) => [end.partition, BigInt(end.high)]));
  if (remaining.size === 0) return;
  const groupId = `${options.groupPrefix}-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? 30_000;
      timer = setTimeout(() => reject(new Error(`reading ${topic} took over ${timeoutMs} ms`)), timeoutMs);
      const reached = (partition: number, offset: string) => {
        const end = remaining.get(partition);
        if (end !== undefined && BigInt(offset) + 1n >= end) remaining.delete(partition);
        if (remaining.size === 0) resolve();
      };
      // A batch can end past its last visible record (control records, or
      // records compaction removed); kafkajs reports where it ended here.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => reached(payload.partition, payload.lastOffset));
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (!payload.restart) reject(payload.error);
      });
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            options.eachMessage(message, partition);
            reached(partition, message.offset);
          },
        })
        .catch(reject);
    });
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
    await admin.deleteGroups([groupId]).catch(() => undefined); // an empty group also expires by itself
  }
}

/** Answers of a broker whose view of a partition's leader is not settled yet. */
const LEADERSHIP_ERRORS = new Set(["UNKNOWN_TOPIC_OR_PARTITION", "LEADER_NOT_AVAILABLE", "NOT_LEADER_FOR_PARTITION"]);

/**
 * The topic's offsets per partition. Right after a topic is created (or
 * while its leader moves) the broker may answer that it does not lead a
 * partition, which kafkajs's fetchTopicOffsets gives up on at once: asked
 * again, with a short backoff, for about 15 s.
 */
async function endOffsets(admin: Admin, topic: string): ReturnType<Admin["fetchTopicOffsets"]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (error) {
      if (!LEADERSHIP_ERRORS.has((error as { type?: string }).type ?? "") || attempt >= 40) throw error;
      await sleep(Math.min(50 * attempt, 500));
    }
  }
}
