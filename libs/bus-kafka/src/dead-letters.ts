import { DEAD_LETTER_TOPIC, type DeadLetter, type DeadLetterReason } from "@mlzero/bus";
import type { Admin, IHeaders, Kafka, KafkaMessage } from "kafkajs";
import { DEAD_LETTER_HEADERS, EVENT_HEADERS, headerText } from "./kafka-headers.js";
import { readTopicToEnd } from "./read-to-end.js";
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
 * of the call (see {@link readTopicToEnd}), oldest first.
 */
export async function readDeadLetters(options: ReadDeadLettersOptions): Promise<DeadLetter[]> {
  const letters: DeadLetter[] = [];
  await readTopicToEnd({
    ...options,
    topic: DEAD_LETTER_TOPIC,
    groupPrefix: "mlzero-dead-letter-reader",
    eachMessage: (message) => letters.push(parseDeadLetter(message)),
  });
  return letters.sort((a, b) => a.time.getTime() - b.time.getTime());
}
