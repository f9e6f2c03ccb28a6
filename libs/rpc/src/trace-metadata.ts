import { currentTraceCarrier } from "@mlzero/telemetry";

/**
 * The W3C trace context of the work running now as call metadata
 * (`traceparent`, and `tracestate` when there is one): a client sends it with
 * every call, so the server's span continues the caller's trace. Empty
 * outside any span.
 */
export function traceMetadata(): Record<string, string> {
  const carrier = currentTraceCarrier();
  if (!carrier) return {};
  return carrier.tracestate ? { traceparent: carrier.traceparent, tracestate: carrier.tracestate } : { traceparent: carrier.traceparent };
}
