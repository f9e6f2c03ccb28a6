import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import {
  createMemorySpanExporter,
  createOtlpHttpExporter,
  currentTraceCarrier,
  inSpan,
  otlpTracesUrl,
  startTracing,
  streamInSpan,
  traceIdOf,
} from "./index.js";

const memory = createMemorySpanExporter();
const tracing = startTracing({ serviceName: "test", exporter: memory.exporter, immediate: true });
afterAll(() => tracing.shutdown());

const PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("tracing", () => {
  it("continues a trace from a carrier and hands its context on through awaits", async () => {
    memory.reset();
    const carried = await inSpan("outer", { kind: "server", parent: { traceparent: PARENT, tracestate: "v=1" } }, async (outer) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      const inner = await inSpan("inner", {}, async () => currentTraceCarrier());
      expect(outer.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
      return inner;
    });
    expect(traceIdOf(carried?.traceparent)).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(carried?.tracestate).toBe("v=1");
    const [inner, outer] = memory.spans();
    expect(outer).toMatchObject({ name: "outer", kind: "server", parentSpanId: "00f067aa0ba902b7", service: "test" });
    expect(inner).toMatchObject({ name: "inner", parentSpanId: outer!.spanId, traceId: outer!.traceId });
    expect(currentTraceCarrier()).toBeUndefined();
  });

  it("starts a new trace when the carrier holds none, and marks a failed span", async () => {
    memory.reset();
    await expect(inSpan("failing", { parent: {} }, async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    const [span] = memory.spans();
    expect(span).toMatchObject({ name: "failing", parentSpanId: undefined, failed: true });
  });

  it("keeps a stream's span open until the stream ends", async () => {
    memory.reset();
    const seen: (string | undefined)[] = [];
    const stream = streamInSpan("stream", { parent: { traceparent: PARENT } }, async function* () {
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        seen.push(traceIdOf(currentTraceCarrier()?.traceparent));
        yield i;
      }
    });
    const items: number[] = [];
    for await (const item of stream) {
      items.push(item);
      if (items.length === 2) expect(memory.spans()).toEqual([]);
    }
    expect(items).toEqual([0, 1, 2]);
    expect(seen).toEqual(Array(3).fill("4bf92f3577b34da6a3ce929d0e0e4736"));
    expect(memory.spans().map((span) => span.name)).toEqual(["stream"]);
  });
});

describe("the OTLP/HTTP exporter", () => {
  it("posts finished spans as OTLP JSON to the collector's traces endpoint", async () => {
    const bodies: { path: string; body: Record<string, unknown> }[] = [];
    const collector = createServer((request, response) => {
      let text = "";
      request.on("data", (chunk: Buffer) => (text += chunk.toString()));
      request.on("end", () => {
        bodies.push({ path: request.url ?? "", body: JSON.parse(text) as Record<string, unknown> });
        response.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    collector.listen(0, "127.0.0.1");
    await once(collector, "listening");
    const url = otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}/` });
    const otlp = startTracing({ serviceName: "otlp-test", exporter: createOtlpHttpExporter({ url }) });
    try {
      const root = await inSpan(
        "exported",
        { kind: "server", parent: { traceparent: PARENT }, attributes: { "mlzero.iteration": 2 } },
        async (span) => span,
      );
      await otlp.flush();
      expect(bodies).toHaveLength(1);
      expect(bodies[0]!.path).toBe("/v1/traces");
      expect(bodies[0]!.body).toMatchObject({
        resourceSpans: [
          {
            resource: { attributes: expect.arrayContaining([{ key: "service.name", value: { stringValue: "otlp-test" } }]) },
            scopeSpans: [
              {
                scope: { name: "mlzero" },
                spans: [
                  {
                    traceId: root.traceId,
                    spanId: root.spanId,
                    parentSpanId: "00f067aa0ba902b7",
                    name: "exported",
                    kind: 2,
                    attributes: [{ key: "mlzero.iteration", value: { intValue: "2" } }],
                    status: { code: 0 },
                  },
                ],
              },
            ],
          },
        ],
      });
    } finally {
      await otlp.shutdown();
      // The memory exporter's tracing, for the tests above, was replaced: start it again for any test after.
      startTracing({ serviceName: "test", exporter: memory.exporter, immediate: true });
      collector.close();
    }
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/custom" })).toBe("http://c:4318/custom");
    expect(otlpTracesUrl({})).toBe("http://localhost:4318/v1/traces");
  });
});
