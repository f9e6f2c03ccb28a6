import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { InvalidInputError } from "@mlzero/errors";
import { EVENT_TYPES, type AnyEventMessage, type EventMessage, type EventName } from "./event-types.js";

/**
 * Bytes on an event topic that are no event of its type (a poison message).
 * Retrying cannot help, so a bus sends them straight to the dead letters.
 */
export class UndecodableEventError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UndecodableEventError";
  }
}

/** An event ready for a topic: its key (the task id) and protobuf bytes. */
export interface EncodedEvent {
  key: string;
  eventId: string;
  value: Uint8Array;
}

/**
 * Encodes an event for publishing. The envelope's task id is the key and its
 * event id what consumers de-duplicate on, so an event lacking either is
 * refused here rather than poisoning a topic.
 */
export function encodeEvent<N extends EventName>(name: N, message: EventMessage<N>): EncodedEvent {
  const envelope = (message as AnyEventMessage).envelope;
  if (!envelope?.taskId) throw new InvalidInputError(`${name} has no envelope task id`);
  if (!envelope.eventId) throw new InvalidInputError(`${name} has no envelope event id`);
  return { key: envelope.taskId, eventId: envelope.eventId, value: toBinary(EVENT_TYPES[name].schema, message as never) };
}

/** Decodes an event's bytes, which must hold an envelope with an event id and a task id. */
export function decodeEvent<N extends EventName>(name: N, value: Uint8Array): EventMessage<N> {
  let message: AnyEventMessage;
  try {
    message = fromBinary(EVENT_TYPES[name].schema, value) as AnyEventMessage;
  } catch (error) {
    throw new UndecodableEventError(`not a ${name}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (!message.envelope?.eventId || !message.envelope.taskId) {
    throw new UndecodableEventError(`${name} has no envelope with an event id and a task id`);
  }
  return message as EventMessage<N>;
}
