import { randomUUID } from "node:crypto";
import { DEAD_LETTER_TOPIC, type DeadLetter, type DeadLetterReason } from "@mlzero/bus";
import type { Admin, IHeaders, Kafka, KafkaMessage } from "kafkajs";
import { DEAD_LETTER_HEADERS, EVENT_HEADERS, headerText } from "./kafka-headers.js";
import type { OutgoingRecord } from "./serial-producer.js";

/** Where a dead event was and why it died, for {@link deadLetterRecord}. */
export interface DeadLetterOrigin {
  group: string;
  topic: string;
  partition: number;
  message: KafkaMessage;
  reason: DeadLetterReason;
  error: string;
  attempts: number;
}

/** Longest error text a dead letter keeps in its header. */
const MAX_ERROR_CHARS = 4_000;

/**
 * The dead-letter record of an event: the original key, bytes and headers
 * (event id, type, trace context), plus headers for the reason, the error,
 * the attempts, the group and the origin topic, partition and offset.
 */
export function deadLetterRecord(origin: DeadLetterOrigin): OutgoingRecord {
  const headers: IHeaders = {
    ...origin.message.headers,
    [DEAD_LETTER_HEADERS.reason]: origin.reason,
    [DEAD_LETTER_HEADERS.error]: origin.error.slice(0, MAX_ERROR_CHARS),
    [DEAD_LETTER_HEADERS.attempts]: String(origin.attempts),
    [DEAD_LETTER_HEADERS.group]: origin.group,
    [DEAD_LETTER_HEADERS.originTopic]: origin.topic,
    [DEAD_LETTER_HEADERS.originPartition]: String(origin.partition),
    [DEAD_LETTER_HEADERS.originOffset]: origin.message.offset,
  };
  return { topic: DEAD_LETTER_TOPIC, message: { key: origin.message.key, value: origin.message.value, headers } };
}

/** A dead letter as the bus reports it, from a record of the dead-letter topic. */
export function parseDeadLetter(message: KafkaMessage): DeadLetter {
  const text = (name: string) => headerText(message.headers, name);
  const reason = text(DEAD_LETTER_HEADERS.reason);
  const value = message.value ?? Buffer.alloc(0);
  return {
    group: text(DEAD_LETTER_HEADERS.group) ?? "",
    topic: text(DEAD_LETTER_HEADERS.originTopic) ?? "",
    partition: Number(text(DEAD_LETTER_HEADERS.originPartition) ?? -1),
    offset: Number(text(DEAD_LETTER_HEADERS.originOffset) ?? -1),
    key: message.key?.toString() ?? "",
    eventId: text(EVENT_HEADERS.eventId),
    reason: reason === "undecodable" ? "undecodable" : "handler_failed",
    error: text(DEAD_LETTER_HEADERS.error) ?? "",
    attempts: Number(text(DEAD_LETTER_HEADERS.attempts) ?? 0),
    time: new Date(Number(message.timestamp)),
    value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
  };
}

/** Options for {@link readDeadLetters}. */
export interface ReadDeadLettersOptions {
  kafka: Kafka;
  admin: Admin;
  /** Gives up after this long (the broker answers in well under a second). */
  timeoutMs?: number;
}

/**
 * Reads the dead-letter topic from its oldest kept record up to its end as
 * of the call. kafkajs has no manual partition assignment, so the read joins
 * a throwaway consumer group, which it deletes afterwards.
 */
export async function readDeadLetters(options: ReadDeadLettersOptions): Promise<DeadLetter[]> {
  const { kafka, admin } = options;
  const ends = await admin.fetchTopicOffsets(DEAD_LETTER_TOPIC);
  // Next offset to reach, per partition that holds any record.
  const remaining = new Map(ends.filter((end) => BigInt(end.high) > BigInt(end.low)).map((end) => [end.partition, BigInt(end.high)]));
  if (remaining.size === 0) return [];
  const groupId = `mlzero-dead-letter-reader-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
  const letters: DeadLetter[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [DEAD_LETTER_TOPIC], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? 30_000;
      timer = setTimeout(() => reject(new Error(`reading the dead letters took over ${timeoutMs} ms`)), timeoutMs);
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            letters.push(parseDeadLetter(message));
            const end = remaining.get(partition);
            if (end !== undefined && BigInt(message.offset) + 1n >= end) remaining.delete(partition);
            if (remaining.size === 0) resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
    await admin.deleteGroups([groupId]).catch(() => undefined); // an empty group also expires by itself
  }
  return letters.sort((a, b) => a.time.getTime() - b.time.getTime());
}
