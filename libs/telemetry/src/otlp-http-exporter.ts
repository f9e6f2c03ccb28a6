import type { AttributeValue, Attributes, HrTime } from "@opentelemetry/api";
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-node";

/** Options for {@link createOtlpHttpExporter}. */
export interface OtlpHttpExporterOptions {
  /** The collector's traces endpoint, e.g. "http://otel-collector:4318/v1/traces". */
  url: string;
  /** Extra request headers (e.g. a collector's API key). */
  headers?: Record<string, string>;
  /** One export's time limit. */
  timeoutMs?: number;
}

/**
 * The collector's traces URL from the standard OpenTelemetry variables:
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, else
 * `OTEL_EXPORTER_OTLP_ENDPOINT` + "/v1/traces", else the local collector's
 * default (http://localhost:4318/v1/traces).
 */
export function otlpTracesUrl(env: NodeJS.ProcessEnv): string {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT || "http://localhost:4318";
  return `${base.replace(/\/+$/, "")}/v1/traces`;
}

type AnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number }
  | { arrayValue: { values: AnyValue[] } };

function anyValue(value: AttributeValue): AnyValue {
  if (Array.isArray(value))
    return { arrayValue: { values: value.filter((item) => item != null).map((item) => anyValue(item as AttributeValue)) } };
  if (typeof value === "boolean") return { boolValue: value };
  if (typeof value === "number") return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  return { stringValue: String(value) };
}

function keyValues(attributes: Attributes): { key: string; value: AnyValue }[] {
  return Object.entries(attributes)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => ({ key, value: anyValue(value!) }));
}

const nanos = ([seconds, nanoseconds]: HrTime) => (BigInt(seconds) * 1_000_000_000n + BigInt(nanoseconds)).toString();

/** Spans as an OTLP `ExportTraceServiceRequest` in its JSON form, grouped by resource and scope. */
export function otlpJson(spans: ReadableSpan[]): object {
  const byResource = new Map<object, Map<string, ReadableSpan[]>>();
  for (const span of spans) {
    const scopes = byResource.get(span.resource) ?? new Map<string, ReadableSpan[]>();
    const scope = `${span.instrumentationScope.name}@${span.instrumentationScope.version ?? ""}`;
    scopes.set(scope, [...(scopes.get(scope) ?? []), span]);
    byResource.set(span.resource, scopes);
  }
  return {
    resourceSpans: [...byResource.values()].map((scopes) => {
      const first = [...scopes.values()][0]![0]!;
      return {
        resource: { attributes: keyValues(first.resource.attributes) },
        scopeSpans: [...scopes.values()].map((scoped) => ({
          scope: { name: scoped[0]!.instrumentationScope.name, version: scoped[0]!.instrumentationScope.version ?? "" },
          spans: scoped.map((span) => ({
            traceId: span.spanContext().traceId,
            spanId: span.spanContext().spanId,
            ...(span.parentSpanContext ? { parentSpanId: span.parentSpanContext.spanId } : {}),
            name: span.name,
            // OTLP numbers kinds from 1 (INTERNAL); the API from 0.
            kind: span.kind + 1,
            startTimeUnixNano: nanos(span.startTime),
            endTimeUnixNano: nanos(span.endTime),
            attributes: keyValues(span.attributes),
            events: span.events.map((event) => ({
              timeUnixNano: nanos(event.time),
              name: event.name,
              attributes: keyValues(event.attributes ?? {}),
            })),
            status: { code: span.status.code, ...(span.status.message ? { message: span.status.message } : {}) },
          })),
        })),
      };
    }),
  };
}

/**
 * A span exporter that POSTs OTLP/HTTP JSON to a collector (OpenTelemetry
 * Collector, Jaeger, Tempo all take it on port 4318). A failed export is
 * dropped, never retried: tracing must not hold the pipeline up.
 */
export function createOtlpHttpExporter(options: OtlpHttpExporterOptions): SpanExporter {
  const pending = new Set<Promise<void>>();
  const send = async (spans: ReadableSpan[]): Promise<ExportResult> => {
    try {
      const response = await fetch(options.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...options.headers },
        body: JSON.stringify(otlpJson(spans)),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
      await response.body?.cancel();
      if (!response.ok) return { code: ExportResultCode.FAILED, error: new Error(`collector answered ${response.status}`) };
      return { code: ExportResultCode.SUCCESS };
    } catch (error) {
      return { code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) };
    }
  };
  return {
    export(spans, done) {
      const sending: Promise<void> = send(spans)
        .then(done)
        .finally(() => pending.delete(sending));
      pending.add(sending);
    },
    async forceFlush() {
      await Promise.all([...pending]);
    },
    async shutdown() {
      await Promise.all([...pending]);
    },
  };
}
