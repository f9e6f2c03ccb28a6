import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { EventEnvelopeSchema, TraceContextSchema, type EventEnvelope, type TraceContext } from "@mlzero/proto";
import { currentTraceCarrier } from "@mlzero/telemetry";

/** Fields of an envelope its producer chooses; the rest is generated. */
export interface EnvelopeFields {
  taskId: string;
  tenant: string;
  iteration: number;
  /** Default: the trace of the work running now (the active span), if any. */
  trace?: TraceContext;
}

/** A fresh envelope: new event id, current time, the given trace or the one of the work running now. */
export function newEnvelope(fields: EnvelopeFields): EventEnvelope {
  return create(EventEnvelopeSchema, {
    eventId: randomUUID(),
    taskId: fields.taskId,
    tenant: fields.tenant,
    iteration: fields.iteration,
    time: timestampNow(),
    trace: fields.trace ?? activeTrace(),
  });
}

/**
 * An envelope for an event caused by `cause`: same task and tenant, and the
 * trace of the work running now (the handler's span, a child of the cause's)
 * or, outside any span, the cause's trace as it was.
 */
export function followEnvelope(cause: EventEnvelope | undefined, iteration?: number): EventEnvelope {
  if (!cause) throw new Error("event has no envelope");
  return newEnvelope({
    taskId: cause.taskId,
    tenant: cause.tenant,
    iteration: iteration ?? cause.iteration,
    trace: activeTrace() ?? cause.trace,
  });
}

function activeTrace(): TraceContext | undefined {
  const carrier = currentTraceCarrier();
  return carrier && create(TraceContextSchema, carrier);
}
