import { create, toBinary, type MessageShape } from "@bufbuild/protobuf";
import { EVENT_TYPES, type EventBus, type EventMessage, type Subscription } from "@mlzero/bus";

/** The events of one iteration of the loop, in the order the stages publish them. */
export const CHAIN_EVENTS = ["TaskSubmitted", "TaskPerceived", "CodeGenerated", "ExecutionFinished", "IterationAnalyzed"] as const;
export type ChainEvent = (typeof CHAIN_EVENTS)[number];

/** One message of each chain event whose payload the hop benchmark publishes again (with a fresh envelope). */
export type EventTemplates = { [N in ChainEvent]: EventMessage<N> };

/** Templates and where they came from. */
export interface TemplateSet {
  source: "recorded from a pipeline task" | "empty events";
  templates: EventTemplates;
  /** Encoded size of each template, bytes. */
  bytes: Record<ChainEvent, number>;
}

function sizes(templates: EventTemplates): Record<ChainEvent, number> {
  return Object.fromEntries(
    CHAIN_EVENTS.map((name) => [name, toBinary(EVENT_TYPES[name].schema, templates[name] as MessageShape<never>).length]),
  ) as Record<ChainEvent, number>;
}

/** Events with nothing but what the hop benchmark sets (the envelope): the smallest possible payloads. */
export function emptyTemplates(): TemplateSet {
  const templates = Object.fromEntries(CHAIN_EVENTS.map((name) => [name, create(EVENT_TYPES[name].schema)])) as unknown as EventTemplates;
  return { source: "empty events", templates, bytes: sizes(templates) };
}

/**
 * Keeps the first event of each chain type that a real pipeline publishes on
 * `bus` (its own consumer group, like any other watcher), so the hop
 * benchmark moves payloads of the real sizes: task context, program source,
 * log tails.
 */
export async function recordTemplates(bus: EventBus): Promise<{ result(): TemplateSet | undefined; close(): Promise<void> }> {
  const seen: Partial<EventTemplates> = {};
  const keep =
    <N extends ChainEvent>(name: N) =>
    async (message: EventMessage<N>) => {
      (seen as Record<N, EventMessage<N>>)[name] ??= message;
    };
  const subscription: Subscription = await bus.subscribe({
    group: "bench-recorder",
    handlers: {
      TaskSubmitted: keep("TaskSubmitted"),
      TaskPerceived: keep("TaskPerceived"),
      CodeGenerated: keep("CodeGenerated"),
      ExecutionFinished: keep("ExecutionFinished"),
      IterationAnalyzed: keep("IterationAnalyzed"),
    },
  });
  return {
    result() {
      if (!CHAIN_EVENTS.every((name) => seen[name])) return undefined;
      const templates = seen as EventTemplates;
      return { source: "recorded from a pipeline task", templates, bytes: sizes(templates) };
    },
    close: () => subscription.close(),
  };
}
