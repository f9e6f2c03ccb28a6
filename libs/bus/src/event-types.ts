import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import {
  CodeGeneratedSchema,
  ExecutionFinishedSchema,
  ExecutionProgressSchema,
  ExecutionStartedSchema,
  IterationAnalyzedSchema,
  RoundPlannedSchema,
  TaskCancelRequestedSchema,
  TaskFinishedSchema,
  TaskPerceivedSchema,
  TaskSubmittedSchema,
  type EventEnvelope,
} from "@mlzero/proto";

/**
 * The single registry of pipeline events: each event type has one schema and
 * one topic. Every bus implementation routes by this table.
 */
export const EVENT_TYPES = {
  TaskSubmitted: { schema: TaskSubmittedSchema, topic: "mlzero.task-submitted.v1" },
  TaskPerceived: { schema: TaskPerceivedSchema, topic: "mlzero.task-perceived.v1" },
  RoundPlanned: { schema: RoundPlannedSchema, topic: "mlzero.round-planned.v1" },
  CodeGenerated: { schema: CodeGeneratedSchema, topic: "mlzero.code-generated.v1" },
  ExecutionStarted: { schema: ExecutionStartedSchema, topic: "mlzero.execution-started.v1" },
  ExecutionProgress: { schema: ExecutionProgressSchema, topic: "mlzero.execution-progress.v1" },
  ExecutionFinished: { schema: ExecutionFinishedSchema, topic: "mlzero.execution-finished.v1" },
  IterationAnalyzed: { schema: IterationAnalyzedSchema, topic: "mlzero.iteration-analyzed.v1" },
  TaskFinished: { schema: TaskFinishedSchema, topic: "mlzero.task-finished.v1" },
  TaskCancelRequested: { schema: TaskCancelRequestedSchema, topic: "mlzero.task-cancel-requested.v1" },
} as const satisfies Record<string, { schema: DescMessage; topic: string }>;

/** Name of a pipeline event type, e.g. "TaskSubmitted". */
export type EventName = keyof typeof EVENT_TYPES;

/** The message type of an event. */
export type EventMessage<N extends EventName> = MessageShape<(typeof EVENT_TYPES)[N]["schema"]>;

/** Every event message carries the common envelope. */
export type AnyEventMessage = EventMessage<EventName> & { envelope?: EventEnvelope };

/** All event names, in registry order. */
export const EVENT_NAMES = Object.keys(EVENT_TYPES) as EventName[];

/** Topic that carries poison events with the reason they failed. */
export const DEAD_LETTER_TOPIC = "mlzero.dead-letter.v1";
