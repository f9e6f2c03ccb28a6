import type { Message, Producer, TopicMessages } from "kafkajs";

/** One record for one topic. */
export interface OutgoingRecord {
  topic: string;
  message: Message;
}

/** Sends records through one producer, one request at a time. */
export interface SerialProducer {
  /** Resolves once the record is acknowledged by every in-sync replica. */
  send(record: OutgoingRecord): Promise<void>;
  /**
   * Sends the records in one request, in order, and resolves once all are
   * acknowledged: records of one partition land in one record batch, which
   * the broker appends whole or not at all.
   */
  sendTogether(records: readonly OutgoingRecord[]): Promise<void>;
  /** Resolves once every record handed to `send` so far is settled. */
  flush(): Promise<void>;
}

/** Options for {@link createSerialProducer}. */
export interface SerialProducerOptions {
  /**
   * Most bytes of values per request. Kept well under the broker's default
   * limit on one partition's record batch (1 MiB).
   */
  maxBatchBytes?: number;
}

interface Pending {
  records: readonly OutgoingRecord[];
  bytes: number;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Serialises the sends of an idempotent producer. kafkajs's idempotent
 * producer can lose records when sends overlap (kafkajs issue 1005: sequence
 * numbers are assigned per request, and concurrent requests race), so only
 * one request is ever in flight. Records that arrive while one is in flight
 * queue up and go together in the next request, so serialising costs one
 * round trip per batch rather than per record; records handed over together
 * are never split between requests. A failed request rejects every record in
 * it; the callers decide whether to publish again.
 */
export function createSerialProducer(producer: Producer, options: SerialProducerOptions = {}): SerialProducer {
  const maxBatchBytes = options.maxBatchBytes ?? 512 * 1024;
  const queue: Pending[] = [];
  let draining: Promise<void> | undefined;

  function takeBatch(): Pending[] {
    const batch: Pending[] = [queue.shift()!];
    let bytes = batch[0]!.bytes;
    while (queue.length > 0 && bytes + queue[0]!.bytes <= maxBatchBytes) {
      bytes += queue[0]!.bytes;
      batch.push(queue.shift()!);
    }
    return batch;
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const batch = takeBatch();
      const byTopic = new Map<string, TopicMessages>();
      for (const record of batch.flatMap((pending) => pending.records)) {
        const entry = byTopic.get(record.topic) ?? { topic: record.topic, messages: [] };
        entry.messages.push(record.message);
        byTopic.set(record.topic, entry);
      }
      try {
        await producer.sendBatch({ topicMessages: [...byTopic.values()] });
        for (const pending of batch) pending.resolve();
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
  }

  function kick(): void {
    if (draining) return;
    // A record queued after the loop's last check but before this callback
    // found `draining` still set; it is picked up here.
    draining = drain().finally(() => {
      draining = undefined;
      if (queue.length > 0) kick();
    });
  }

  function sendTogether(records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      // Keys and headers are small; a flat allowance per record covers them.
      const bytes = records.reduce(
        (sum, { message: { value } }) =>
          sum + (value === null ? 0 : typeof value === "string" ? Buffer.byteLength(value) : value.length) + 256,
        0,
      );
      queue.push({ records, bytes, resolve, reject });
      kick();
    });
  }

  return {
    send: (record) => sendTogether([record]),
    sendTogether,
    async flush() {
      while (draining) await draining;
    },
  };
}
