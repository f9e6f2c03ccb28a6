import { setTimeout as sleep } from "node:timers/promises";
import {
  decodeEvent,
  EVENT_TYPES,
  retryDelayMs,
  type DeadLetterReason,
  type Delivery,
  type EventHandlers,
  type EventMessage,
  type EventName,
  type Subscription,
} from "@mlzero/bus";
import { describeError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import { metrics } from "@mlzero/telemetry";
import type { Consumer, EachMessagePayload, Kafka, RetryOptions } from "kafkajs";
import { deadLetterRecord } from "./dead-letters.js";
import type { RecentIds } from "./recent-ids.js";
import type { SerialProducer } from "./serial-producer.js";

/** Options for {@link startKafkaSubscription}. */
export interface KafkaSubscriptionOptions {
  kafka: Kafka;
  group: string;
  handlers: EventHandlers;
  /** Carries the group in its bindings. */
  logger: Logger;
  /** Where dead letters go. */
  producer: SerialProducer;
  /** Ids this process's members of the group handled lately. */
  recent: RecentIds;
  maxAttempts: number;
  retryBackoffMs: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** Partitions handled side by side. */
  concurrency: number;
  retry: RetryOptions;
}

type AnyHandler = (message: EventMessage<EventName>, delivery: Delivery) => Promise<void>;

/** Protocol errors that mean this member's view of the group is stale: rejoin, then the event comes again. */
const GROUP_CHANGED = new Set(["UNKNOWN_MEMBER_ID", "ILLEGAL_GENERATION", "REBALANCE_IN_PROGRESS", "NOT_COORDINATOR_FOR_GROUP"]);

/**
 * Commits the offset after `offset`. kafkajs wraps a failed commit in an
 * error its runner does not recognise, and a member the coordinator forgot
 * (after a broker restart, or a session that expired) then crashes for good.
 * Rethrowing the protocol error itself lets the runner rejoin the group.
 */
async function commitAfter(consumer: Consumer, topic: string, partition: number, offset: string): Promise<void> {
  try {
    await consumer.commitOffsets([{ topic, partition, offset: (BigInt(offset) + 1n).toString() }]);
  } catch (error) {
    for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) {
      if (GROUP_CHANGED.has((cause as { type?: string }).type ?? "")) throw cause;
    }
    throw error;
  }
}

/**
 * One member of a consumer group: one kafkajs consumer on the topics of its
 * handlers. Offsets are committed only after the handler resolved or the
 * event was dead-lettered, so a member that dies mid-handler leaves the event
 * to the next owner of its partition. A failing handler is retried in place
 * with exponential backoff, heartbeating all the while; after the last
 * attempt the event goes to the dead letters, its offset is committed, and
 * the partition moves on. Undecodable bytes go to the dead letters at once.
 */
export async function startKafkaSubscription(options: KafkaSubscriptionOptions): Promise<Subscription> {
  const { group, logger, recent, maxAttempts, retryBackoffMs, heartbeatIntervalMs } = options;
  const names = (Object.keys(options.handlers) as EventName[]).filter((name) => options.handlers[name]);
  const nameByTopic = new Map<string, EventName>(names.map((name) => [EVENT_TYPES[name].topic, name]));
  let consumer: Consumer;
  let closing = false;
  const inFlight = new Set<Promise<void>>();
  let rejoinTimer: NodeJS.Timeout | undefined;

  /**
   * Runs `work` while heartbeating, since kafkajs heartbeats only between
   * messages and a handler that outlived the session timeout would lose its
   * partitions to a rebalance. A failed heartbeat (the group is rebalancing)
   * cannot stop the handler; the commit after it will tell.
   */
  async function heartbeating<T>(heartbeat: () => Promise<void>, work: Promise<T>): Promise<T> {
    const timer = setInterval(() => {
      heartbeat().catch((error: unknown) => logger.debug({ err: describeError(error) }, "heartbeat failed during a handler"));
    }, heartbeatIntervalMs);
    try {
      return await work;
    } finally {
      clearInterval(timer);
    }
  }

  /** Waits `ms` before a retry, heartbeating; a rebalance aborts the wait (the event comes again). */
  async function backOff(heartbeat: () => Promise<void>, ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!closing && Date.now() < until) {
      await sleep(Math.min(heartbeatIntervalMs, until - Date.now()));
      await heartbeat();
    }
  }

  async function handle(from: Consumer, { topic, partition, message, heartbeat }: EachMessagePayload): Promise<void> {
    const name = nameByTopic.get(topic)!;
    const offset = Number(message.offset);
    const where = { topic, partition, offset, key: message.key?.toString() };
    const value = message.value ?? Buffer.alloc(0);
    const commit = () => commitAfter(from, topic, partition, message.offset);
    const deadLetter = async (reason: DeadLetterReason, error: unknown, attempts: number) => {
      await options.producer.send(deadLetterRecord({ group, topic, partition, message, reason, error: describeError(error), attempts }));
      logger.error({ ...where, taskId: where.key, reason, attempts, err: describeError(error) }, "event sent to dead letters");
    };

    let first: EventMessage<EventName>;
    try {
      first = decodeEvent(name, value);
    } catch (error) {
      await deadLetter("undecodable", error, 0);
      return commit();
    }
    const eventId = first.envelope!.eventId;
    if (recent.has(eventId)) {
      logger.debug({ ...where, eventId }, "event already handled here; skipped");
      return commit();
    }
    const handler = options.handlers[name] as AnyHandler;
    for (let attempt = 1; ; attempt++) {
      try {
        // Decoded per attempt, so a retry never sees what an earlier one changed.
        const event = attempt === 1 ? first : decodeEvent(name, value);
        await heartbeating(heartbeat, handler(event, { topic, partition, offset, attempt }));
        break;
      } catch (error) {
        const { taskId, tenant } = first.envelope!;
        logger.warn({ ...where, taskId, tenant, eventId, attempt, err: describeError(error) }, "event handler failed");
        if (attempt >= maxAttempts) {
          await deadLetter("handler_failed", error, attempt);
          break;
        }
        await backOff(heartbeat, retryDelayMs(retryBackoffMs, attempt));
        // Left uncommitted: the partition's next owner gets the event again.
        if (closing) return;
      }
    }
    // Remembered before the commit: should the commit fail, the redelivery is skipped here.
    recent.add(eventId);
    await commit();
  }

  // Events this member's partitions hold past its latest batch, per topic and partition: `mlzero_bus_consumer_lag`.
  const lag = new Map<string, Map<number, number>>();
  const reportLag = (topic: string) => {
    let total = 0;
    for (const behind of lag.get(topic)?.values() ?? []) total += behind;
    metrics.consumerLag(group, topic, total);
  };

  /** Keeps the lag gauge current: after each batch, and from nothing at each (re)join, when partitions may move. */
  function watchLag(member: Consumer): void {
    member.on(member.events.GROUP_JOIN, () => {
      lag.clear();
      for (const topic of nameByTopic.keys()) reportLag(topic);
    });
    member.on(member.events.END_BATCH_PROCESS, ({ payload }) => {
      const partitions = lag.get(payload.topic) ?? new Map<number, number>();
      partitions.set(payload.partition, Math.max(0, Number(payload.offsetLag)));
      lag.set(payload.topic, partitions);
      reportLag(payload.topic);
    });
  }

  /** Creates this member's consumer and joins; resolves once it holds its partitions. */
  async function join(): Promise<void> {
    const member = options.kafka.consumer({
      groupId: group,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: heartbeatIntervalMs,
      // A short long-poll lets close() and rebalances finish quickly; the
      // broker still answers as soon as a record arrives.
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: false,
      retry: options.retry,
    });
    consumer = member;
    watchLag(member);
    member.on(member.events.CRASH, ({ payload }) => {
      logger.error({ restart: payload.restart, err: describeError(payload.error) }, "consumer crashed");
      if (!payload.restart) rejoinLater(1_000);
    });
    await member.connect();
    await member.subscribe({ topics: [...nameByTopic.keys()], fromBeginning: true });
    await member.run({
      autoCommit: false,
      partitionsConsumedConcurrently: options.concurrency,
      eachMessage: async (payload) => {
        // A closing member handles nothing new; what it leaves uncommitted goes to the next owner.
        if (closing) return;
        const work = handle(member, payload);
        inFlight.add(work);
        try {
          await work;
        } finally {
          inFlight.delete(work);
        }
      },
    });
  }

  /**
   * kafkajs restarts a consumer after a retriable crash but leaves it dead
   * after any other; a service whose member died would look healthy and
   * handle nothing. So this member joins again, with a growing delay.
   */
  function rejoinLater(delayMs: number): void {
    if (closing || rejoinTimer) return;
    rejoinTimer = setTimeout(async () => {
      rejoinTimer = undefined;
      if (closing) return;
      try {
        await consumer.disconnect();
        await join();
        logger.info({}, "consumer joined its group again");
      } catch (error) {
        logger.error({ err: describeError(error) }, "consumer cannot join its group again");
        rejoinLater(Math.min(delayMs * 2, 30_000));
      }
    }, delayMs);
  }

  await join();
  return {
    async close() {
      if (closing) return;
      closing = true;
      clearTimeout(rejoinTimer);
      await Promise.allSettled([...inFlight]);
      await consumer.disconnect();
    },
  };
}
