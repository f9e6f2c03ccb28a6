import { EVENT_TYPES, type EventName } from "@mlzero/bus";
import { Kafka, logLevel, Partitioners, type Admin } from "kafkajs";
import { EVENT_HEADERS } from "./kafka-headers.js";
import { readTopicToEnd } from "./read-to-end.js";

// Test helpers that need kafkajs, kept in the one package allowed to import it.

/** One record for {@link publishRaw}: bytes the bus itself would never write. */
export interface RawEventRecord {
  /** The event whose topic the record goes to. */
  event: EventName;
  /** Record key; the bus keys every event by its task id. */
  key: string;
  value: Uint8Array;
  /** Headers; by default the event type's, as the bus writes it (no event id). */
  headers?: Record<string, string>;
}

/** Where {@link publishRaw} wrote a record. */
export interface RawEventPlacement {
  topic: string;
  partition: number;
  offset: number;
}

/**
 * Writes records onto event topics as they are, bypassing the bus's
 * encoding, with the bus's partitioning (Java-compatible murmur2 on the key):
 * for tests of poison messages. Each record is sent and acknowledged on its
 * own, in order; resolves with where each landed.
 */
export async function publishRaw(brokers: string[], records: RawEventRecord[]): Promise<RawEventPlacement[]> {
  const kafka = new Kafka({ clientId: "mlzero-test-raw", brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const placements: RawEventPlacement[] = [];
    for (const record of records) {
      const topic = EVENT_TYPES[record.event].topic;
      const [metadata] = await producer.send({
        topic,
        acks: -1,
        messages: [
          {
            key: record.key,
            value: Buffer.from(record.value.buffer, record.value.byteOffset, record.value.byteLength),
            headers: record.headers ?? { [EVENT_HEADERS.eventType]: record.event },
          },
        ],
      });
      placements.push({ topic, partition: metadata!.partition, offset: Number(metadata!.baseOffset) });
    }
    return placements;
  } finally {
    await producer.disconnect();
  }
}

/** One record as stored: its topic, key and value bytes, and headers (as UTF-8). */
export interface StoredRecord {
  topic: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/**
 * Every record of every topic on the brokers, as stored, up to each topic's
 * end as of the call (internal topics left out): for tests that look at
 * what the pipeline put on the wire, byte for byte.
 */
export async function readAllRecords(brokers: string[]): Promise<StoredRecord[]> {
  return withAdmin(brokers, "mlzero-test-read-all", async (kafka, admin) => {
    const records: StoredRecord[] = [];
    for (const topic of await ownTopics(admin)) {
      await readTopicToEnd({
        kafka,
        admin,
        topic,
        groupPrefix: "mlzero-test-read-all",
        eachMessage: (message) => {
          const headers = Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value ?? "")]);
          records.push({ topic, key: message.key, value: message.value, headers: Object.fromEntries(headers) });
        },
      });
    }
    return records;
  });
}

/** Partitions per topic on the brokers (internal topics left out). */
export async function topicPartitions(brokers: string[]): Promise<Map<string, number>> {
  return withAdmin(brokers, "mlzero-test-topics", async (_kafka, admin) => {
    const { topics } = await admin.fetchTopicMetadata({ topics: await ownTopics(admin) });
    return new Map(topics.map((topic) => [topic.name, topic.partitions.length]));
  });
}

/** Runs `work` with a connected admin client of its own. */
async function withAdmin<T>(brokers: string[], clientId: string, work: (kafka: Kafka, admin: Admin) => Promise<T>): Promise<T> {
  const kafka = new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await work(kafka, admin);
  } finally {
    await admin.disconnect();
  }
}

/** The brokers' topics but Kafka's internal ones. */
async function ownTopics(admin: Admin): Promise<string[]> {
  return (await admin.listTopics()).filter((name) => !name.startsWith("__"));
}
