import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  InMemorySpanExporter,
  NodeTracerProvider,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-node";

/** W3C trace context as it travels: gRPC metadata, Kafka headers, an event envelope's `trace`. */
export interface TraceCarrier {
  traceparent?: string;
  tracestate?: string;
}

const w3c = new W3CTraceContextPropagator();
const TRACER = "mlzero";

/** The trace context a carrier holds, as a parent for a span; the root context when it holds none (or a malformed one). */
function contextOf(carrier: TraceCarrier | Record<string, string | undefined> | undefined): Context {
  if (!carrier?.traceparent) return ROOT_CONTEXT;
  const headers = { traceparent: carrier.traceparent, ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}) };
  return w3c.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
}

/**
 * The W3C trace context of the work running now (the active span), to put
 * on what it sends: an event envelope, an outgoing call's metadata.
 * Undefined outside any span, or where tracing was never started.
 */
export function currentTraceCarrier(): { traceparent: string; tracestate: string } | undefined {
  const headers: Record<string, string> = {};
  w3c.inject(context.active(), headers, defaultTextMapSetter);
  return headers.traceparent ? { traceparent: headers.traceparent, tracestate: headers.tracestate ?? "" } : undefined;
}

/** The trace id in a `traceparent`; undefined when it is none. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent ?? "")?.[1];
}

/** What a span's work sees of its span. */
export interface SpanHandle {
  /** "" when the span has no valid context (tracing not started, no parent). */
  traceId: string;
  spanId: string;
  setAttribute(key: string, value: string | number | boolean): void;
}

/** Options for {@link inSpan} and {@link streamInSpan}. */
export interface SpanOptions {
  /** server: answers an RPC; consumer: handles an event; internal otherwise. */
  kind?: "server" | "consumer" | "client" | "producer" | "internal";
  /** Where the trace came from: a parent span's context; a new trace when it carries none. */
  parent?: TraceCarrier | Record<string, string | undefined>;
  attributes?: Attributes;
}

const KINDS = {
  server: SpanKind.SERVER,
  consumer: SpanKind.CONSUMER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  internal: SpanKind.INTERNAL,
} as const;

function startSpan(name: string, options: SpanOptions): { span: Span; active: Context } {
  const parent = options.parent ? contextOf(options.parent) : context.active();
  const span = trace.getTracer(TRACER).startSpan(name, { kind: KINDS[options.kind ?? "internal"], attributes: options.attributes }, parent);
  return { span, active: trace.setSpan(parent, span) };
}

function handleOf(span: Span): SpanHandle {
  // Without tracing started and no parent, the span is a no-op with an all-zero context: no ids then.
  const valid = isSpanContextValid(span.spanContext());
  const { traceId, spanId } = span.spanContext();
  return { traceId: valid ? traceId : "", spanId: valid ? spanId : "", setAttribute: (key, value) => span.setAttribute(key, value) };
}

function fail(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/**
 * Runs `work` in a new span, active for everything it awaits and starts (an
 * event it publishes carries it). The span ends when the work settles and is
 * marked failed when it throws. Without tracing started the span records
 * nothing, but a parent's context still flows through.
 */
export async function inSpan<T>(name: string, options: SpanOptions, work: (span: SpanHandle) => Promise<T>): Promise<T> {
  const { span, active } = startSpan(name, options);
  try {
    return await context.with(active, () => work(handleOf(span)));
  } catch (error) {
    fail(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** {@link inSpan} for a stream: the span lasts until the stream ends, fails or its consumer stops. */
export function streamInSpan<T>(name: string, options: SpanOptions, make: (span: SpanHandle) => AsyncIterable<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const { span, active } = startSpan(name, options);
      const iterator = context.with(active, () => make(handleOf(span))[Symbol.asyncIterator]());
      let ended = false;
      const end = () => {
        if (!ended) span.end();
        ended = true;
      };
      return {
        async next() {
          try {
            const result = await context.with(active, () => iterator.next());
            if (result.done) end();
            return result;
          } catch (error) {
            fail(span, error);
            end();
            throw error;
          }
        },
        async return(value?: unknown) {
          try {
            return (await context.with(active, () => iterator.return?.(value))) ?? { done: true, value: undefined };
          } finally {
            end();
          }
        },
      } as AsyncIterator<T>;
    },
  };
}

/** Where finished spans go. */
export type TraceExporter = "none" | "console" | SpanExporter;

/** Options for {@link startTracing}. */
export interface TracingOptions {
  /** `service.name` of every span. */
  serviceName: string;
  /** none (the default): spans are made and propagated but not exported; console: one line per span on stdout. */
  exporter?: TraceExporter;
  /** Export spans one by one as they end (tests) rather than in batches. */
  immediate?: boolean;
}

/** Tracing of this process, started. */
export interface Tracing {
  /** Exports what is pending. */
  flush(): Promise<void>;
  /** Exports what is pending and stops tracing. */
  shutdown(): Promise<void>;
}

/**
 * Starts OpenTelemetry tracing in this process: a tracer provider, the
 * AsyncLocalStorage context manager (so the active span follows awaits) and
 * W3C trace context propagation. Replaces tracing started before.
 */
export function startTracing(options: TracingOptions): Tracing {
  trace.disable();
  context.disable();
  propagation.disable();
  const exporter = options.exporter ?? "none";
  const processors: SpanProcessor[] = [];
  if (exporter !== "none") {
    const target = exporter === "console" ? new ConsoleSpanExporter() : exporter;
    processors.push(options.immediate || exporter === "console" ? new SimpleSpanProcessor(target) : new BatchSpanProcessor(target));
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": options.serviceName }),
    spanProcessors: processors,
  });
  provider.register();
  return {
    flush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** A finished span as tests look at it. */
export interface FinishedSpan {
  name: string;
  kind: "server" | "consumer" | "client" | "producer" | "internal";
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  attributes: Attributes;
  failed: boolean;
  /** The `service.name` of the process that made it. */
  service: string;
}

/** An exporter that keeps finished spans in memory, for tests. */
export interface MemorySpanExporter {
  exporter: SpanExporter;
  spans(): FinishedSpan[];
  reset(): void;
}

/** A {@link MemorySpanExporter}: pass `exporter` to {@link startTracing} (with `immediate`). */
export function createMemorySpanExporter(): MemorySpanExporter {
  const exporter = new InMemorySpanExporter();
  const kindName = Object.fromEntries(Object.entries(KINDS).map(([name, kind]) => [kind, name])) as Record<SpanKind, FinishedSpan["kind"]>;
  const finished = (span: ReadableSpan): FinishedSpan => ({
    name: span.name,
    kind: kindName[span.kind],
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    attributes: span.attributes,
    failed: span.status.code === SpanStatusCode.ERROR,
    service: String(span.resource.attributes["service.name"] ?? ""),
  });
  return {
    exporter,
    spans: () => exporter.getFinishedSpans().map(finished),
    reset: () => exporter.reset(),
  };
}
