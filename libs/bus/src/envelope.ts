import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { EventEnvelopeSchema, type EventEnvelope, type TraceContext } from "@mlzero/proto";

/** Fields of an envelope its producer chooses; the rest is generated. */
export interface EnvelopeFields {
  taskId: string;
  tenant: string;
  iteration: number;
  trace?: TraceContext;
}

/** A fresh envelope: new event id, current time. */
export function newEnvelope(fields: EnvelopeFields): EventEnvelope {
  return create(EventEnvelopeSchema, {
    eventId: randomUUID(),
    taskId: fields.taskId,
    tenant: fields.tenant,
    iteration: fields.iteration,
    time: timestampNow(),
    trace: fields.trace,
  });
}

/** An envelope for an event caused by `cause`: same task, tenant and trace. */
export function followEnvelope(cause: EventEnvelope | undefined, iteration?: number): EventEnvelope {
  if (!cause) throw new Error("event has no envelope");
  return newEnvelope({
    taskId: cause.taskId,
    tenant: cause.tenant,
    iteration: iteration ?? cause.iteration,
    trace: cause.trace,
  });
}
