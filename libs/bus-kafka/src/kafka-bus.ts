import {
  DEAD_LETTER_TOPIC,
  encodeEvent,
  EVENT_NAMES,
  EVENT_TYPES,
  type AnyEventMessage,
  type EventBus,
  type Subscription,
} from "@mlzero/bus";
import { FailedPreconditionError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import { readDeadLetters } from "./dead-letters.js";
import { ensureTopics } from "./ensure-topics.js";
import { createKafkaClient } from "./kafka-client.js";
import { KAFKA_RETRY } from "./kafka-retry.js";
import { KafkaUnavailableError } from "./kafka-unavailable-error.js";
import { eventHeaders } from "./kafka-headers.js";
import { startKafkaSubscription } from "./kafka-subscription.js";
import { createRecentIds, type RecentIds } from "./recent-ids.js";
import { createSerialProducer } from "./serial-producer.js";

/** Options for {@link createKafkaBus}. */
export interface KafkaBusOptions {
  /** Bootstrap brokers, "host:port". */
  brokers: string[];
  /** Names this process to the brokers (logs, quotas). */
  clientId: string;
  logger: Logger;
  /** Partitions of each topic the bus creates. */
  partitions?: number;
  replicationFactor?: number;
  /** How long the topics keep events. */
  retentionMs?: number;
  /** Deliveries of one event before it goes to the dead letters. */
  maxAttempts?: number;
  /** First retry delay; doubles per attempt. */
  retryBackoffMs?: number;
  /**
   * A member silent this long leaves its group and its partitions move on:
   * how soon a killed process's events reach another. Handlers may run longer
   * (the bus heartbeats while they run). At least the broker's minimum (6 s).
   */
  sessionTimeoutMs?: number;
  /** Partitions one member handles side by side. */
  concurrency?: number;
  /** Event ids each group remembers to skip redeliveries in this process. */
  recentIdsPerGroup?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The event bus over Apache Kafka, with the contract of the in-process bus
 * (see `EventBus`). At start it creates the topics of every event type and
 * the dead-letter topic. Publishing: key = task id, value = the protobuf
 * bytes, headers = event id, event type and W3C trace context; one idempotent
 * producer whose sends are serialised. Subscribing: one consumer per group
 * (see `startKafkaSubscription`).
 */
export async function createKafkaBus(options: KafkaBusOptions): Promise<EventBus> {
  const { logger } = options;
  const partitions = options.partitions ?? 8;
  const settings = {
    maxAttempts: options.maxAttempts ?? 5,
    retryBackoffMs: options.retryBackoffMs ?? 100,
    sessionTimeoutMs: options.sessionTimeoutMs ?? 10_000,
    heartbeatIntervalMs: 1_000,
    concurrency: options.concurrency ?? partitions,
    retry: KAFKA_RETRY,
  };
  const { kafka, admin, producer } = createKafkaClient({ clientId: options.clientId, brokers: options.brokers, logger });
  try {
    await admin.connect();
  } catch (error) {
    throw new KafkaUnavailableError(options.brokers, { cause: error });
  }
  try {
    const topics = [...EVENT_NAMES.map((name) => EVENT_TYPES[name].topic), DEAD_LETTER_TOPIC];
    await ensureTopics(
      admin,
      topics.map((topic) => ({
        topic,
        partitions,
        replicationFactor: options.replicationFactor ?? 1,
        retentionMs: options.retentionMs ?? 7 * DAY_MS,
      })),
      logger,
    );
    await producer.connect();
  } catch (error) {
    await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
    throw error;
  }
  const serial = createSerialProducer(producer);
  const subscriptions = new Set<Subscription>();
  const recentByGroup = new Map<string, RecentIds>();
  let closed = false;

  const bus: EventBus = {
    async publish(name, message) {
      if (closed) throw new FailedPreconditionError("bus is closed");
      const { key, eventId, value } = encodeEvent(name, message);
      await serial.send({
        topic: EVENT_TYPES[name].topic,
        message: {
          key,
          value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
          headers: eventHeaders(name, eventId, (message as AnyEventMessage).envelope?.trace),
        },
      });
    },

    async subscribe({ group, handlers }) {
      if (closed) throw new FailedPreconditionError("bus is closed");
      if (!Object.values(handlers).some(Boolean)) return { close: async () => undefined };
      let recent = recentByGroup.get(group);
      if (!recent) {
        recent = createRecentIds(options.recentIdsPerGroup ?? 10_000);
        recentByGroup.set(group, recent);
      }
      const subscription = await startKafkaSubscription({
        ...settings,
        kafka,
        group,
        handlers,
        logger: logger.child({ group }),
        producer: serial,
        recent,
      });
      const tracked: Subscription = {
        async close() {
          subscriptions.delete(tracked);
          await subscription.close();
        },
      };
      subscriptions.add(tracked);
      return tracked;
    },

    readDeadLetters: () => readDeadLetters({ kafka, admin }),

    async close() {
      if (closed) return;
      closed = true;
      // Members first: their handlers may still publish, and dead letters go through the producer.
      await Promise.all([...subscriptions].map((subscription) => subscription.close()));
      await serial.flush();
      await producer.disconnect();
      await admin.disconnect();
    },
  };
  return bus;
}
