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
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** Stops every subscription and releases the bus. */
  close(): Promise<void>;
}

/** An event that failed past its retries, with why and where it came from. */
export interface DeadLetter {
  group: string;
  topic: string;
  partition: number;
  offset: number;
  key: string;
  error: string;
  value: Uint8Array;
}
