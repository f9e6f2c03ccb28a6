import type { EventMessage, EventName } from "./event-types.js";

/** Where a delivered event came from; `attempt` counts redeliveries from 1. */
export interface Delivery {
  topic: string;
  partition: number;
  offset: number;
  attempt: number;
}

/** Handlers by event name; a handler that throws gets the event again. */
export type EventHandlers = {
  [N in EventName]?: (message: EventMessage<N>, delivery: Delivery) => Promise<void>;
};

/** Options for {@link EventBus.subscribe}. */
export interface SubscribeOptions {
  /** Consumer group: every group sees every event; members of one group share them. */
  group: string;
  handlers: EventHandlers;
}

/** A live subscription. */
export interface Subscription {
  /** Stops delivery after the handlers in flight finish. */
  close(): Promise<void>;
}

/**
 * The pipeline's event bus. Semantics every implementation keeps (the
 * in-process bus here, Kafka in the cluster): one topic per event type, key =
 * task id so one task's events of a type stay in order, consumer groups,
 * at-least-once delivery (handlers must be idempotent), redelivery on handler
 * failure with backoff, then a dead letter, never a blocked partition.
 */
export interface EventBus {
  /** Publishes an event, keyed by its envelope's task id. Resolves once it is durable. */
  publish<N extends EventName>(name: N, message: EventMessage<N>): Promise<void>;
  /**
   * Joins a consumer group; resolves once the member takes part in it. A
   * group that is new starts from the oldest event kept, so nothing published
   * before its first member joined is missed.
   */
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** Every dead letter kept so far, oldest first: for operators and tests. */
  readDeadLetters(): Promise<DeadLetter[]>;
  /** Stops every subscription and releases the bus. */
  close(): Promise<void>;
}

/**
 * Why an event became a dead letter: its bytes are no event of its topic's
 * type (never handed to a handler), or its handler failed every attempt.
 */
export type DeadLetterReason = "undecodable" | "handler_failed";

/** An event that could not be handled, with why and where it came from. */
export interface DeadLetter {
  /** The consumer group that gave up on it. */
  group: string;
  /** Where the event was: its topic, partition and offset. */
  topic: string;
  partition: number;
  offset: number;
  key: string;
  /** The event's id, when its envelope or headers tell it. */
  eventId: string | undefined;
  reason: DeadLetterReason;
  /** The last error, for people: one line with its cause chain. */
  error: string;
  /** Deliveries tried: 0 for an undecodable event. */
  attempts: number;
  /** When it was dead-lettered. */
  time: Date;
  /** The original bytes, exactly as they were published. */
  value: Uint8Array;
}
