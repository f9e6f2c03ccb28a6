import type { EventName } from "@mlzero/bus";
import type { TraceContext } from "@mlzero/proto";
import type { IHeaders } from "kafkajs";

/** Headers the Kafka bus writes on every event record, so tools can route and trace without decoding. */
export const EVENT_HEADERS = {
  eventId: "mlzero-event-id",
  eventType: "mlzero-event-type",
  traceparent: "traceparent",
  tracestate: "tracestate",
} as const;

/** Headers a dead-letter record adds to the original event's: why it failed and where it came from. */
export const DEAD_LETTER_HEADERS = {
  reason: "mlzero-dead-letter-reason",
  error: "mlzero-dead-letter-error",
  attempts: "mlzero-dead-letter-attempts",
  group: "mlzero-dead-letter-group",
  originTopic: "mlzero-origin-topic",
  originPartition: "mlzero-origin-partition",
  originOffset: "mlzero-origin-offset",
} as const;

/** The headers of one event record; W3C trace context only when the envelope carries it. */
export function eventHeaders(name: EventName, eventId: string, trace: TraceContext | undefined): IHeaders {
  const headers: IHeaders = { [EVENT_HEADERS.eventId]: eventId, [EVENT_HEADERS.eventType]: name };
  if (trace?.traceparent) headers[EVENT_HEADERS.traceparent] = trace.traceparent;
  if (trace?.tracestate) headers[EVENT_HEADERS.tracestate] = trace.tracestate;
  return headers;
}

/** A header's value as text; the first one when a header repeats. */
export function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const raw = headers?.[name];
  const value = Array.isArray(raw) ? raw[0] : raw;
  return value === undefined ? undefined : value.toString();
}
