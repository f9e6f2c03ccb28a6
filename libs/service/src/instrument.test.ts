import { Writable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { createInProcessBus, followEnvelope, newEnvelope, type InProcessBus } from "@mlzero/bus";
import { NotFoundError } from "@mlzero/errors";
import { createLogger, type Logger } from "@mlzero/logging";
import { PerceptionService, TaskPerceivedSchema, TaskSubmittedSchema } from "@mlzero/proto";
import { createClient, serve } from "@mlzero/rpc";
import { createMemorySpanExporter, inSpan, metricsText, parseMetrics, sampleSum, startTracing, traceIdOf } from "@mlzero/telemetry";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { startModule, type ServiceModule, type StartedModule } from "./service-module.js";

const spans = createMemorySpanExporter();
const tracing = startTracing({ serviceName: "test", exporter: spans.exporter, immediate: true });
afterAll(() => tracing.shutdown());

function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    logger: createLogger({ service: "test", level: "info", destination }),
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe("instrumented modules", () => {
  let bus: InProcessBus;
  let logger: Logger;
  let lines: () => Record<string, unknown>[];
  const started: StartedModule[] = [];
  beforeEach(() => {
    spans.reset();
    ({ logger, lines } = capturingLogger());
    bus = createInProcessBus({ logger, retryBackoffMs: 1 });
  });
  afterEach(async () => {
    for (const module of started.splice(0)) await module.stop();
    await bus.close();
  });

  it("continues an event's trace in each handler's span, logs its task and tenant, and measures it", async () => {
    const perceiving: ServiceModule = {
      name: "perceiving",
      grpc: [],
      pipeline: {
        group: "perceiving",
        stages: { TaskSubmitted: "perception" },
        handlers: {
          TaskSubmitted: async (event) => {
            logger.info({}, "perceiving");
            await bus.publish("TaskPerceived", create(TaskPerceivedSchema, { envelope: followEnvelope(event.envelope) }));
          },
        },
      },
    };
    let failures = 0;
    const judging: ServiceModule = {
      name: "judging",
      grpc: [],
      pipeline: {
        group: "judging",
        handlers: {
          TaskPerceived: async () => {
            logger.info({ iteration: 1 }, "judging");
            if (failures++ === 0) throw new Error("first attempt fails");
          },
        },
      },
    };
    for (const module of [perceiving, judging]) started.push(await startModule(module, { bus, logger }));

    const root = await inSpan("client", {}, async (span) => {
      await bus.publish(
        "TaskSubmitted",
        create(TaskSubmittedSchema, { envelope: newEnvelope({ taskId: "task-1", tenant: "acme", iteration: 0 }) }),
      );
      return span;
    });
    await bus.whenIdle();

    const finished = spans.spans();
    const perceived = finished.find((span) => span.name === "perceiving TaskSubmitted")!;
    const judged = finished.filter((span) => span.name === "judging TaskPerceived");
    expect(perceived).toMatchObject({ kind: "consumer", traceId: root.traceId, parentSpanId: root.spanId });
    expect(perceived.attributes).toMatchObject({
      "mlzero.task_id": "task-1",
      "mlzero.tenant": "acme",
      "messaging.consumer.group.name": "perceiving",
    });
    expect(judged).toHaveLength(2);
    for (const span of judged) expect(span).toMatchObject({ traceId: root.traceId, parentSpanId: perceived.spanId });
    expect(judged.map((span) => span.failed)).toEqual([true, false]);

    const handlerLines = lines().filter((line) => line.msg === "perceiving" || line.msg === "judging");
    expect(handlerLines).toHaveLength(3);
    for (const line of handlerLines) expect(line).toMatchObject({ taskId: "task-1", tenant: "acme", traceId: root.traceId });
    expect(lines().find((line) => line.msg === "event handler failed")).toMatchObject({ taskId: "task-1", tenant: "acme" });

    const parsed = parseMetrics(await metricsText());
    expect(sampleSum(parsed, "mlzero_stage_duration_seconds_count", { stage: "perception", outcome: "ok" })).toBe(1);
    expect(sampleSum(parsed, "mlzero_event_handler_duration_seconds_count", { group: "judging", outcome: "error" })).toBe(1);
    expect(sampleSum(parsed, "mlzero_event_handler_duration_seconds_count", { group: "judging", outcome: "ok" })).toBe(1);
    // Event age counts first deliveries only.
    expect(sampleSum(parsed, "mlzero_bus_event_age_seconds_count", { group: "judging", event: "TaskPerceived" })).toBe(1);
  });

  it("continues the caller's trace in a server span per RPC, and times it by status", async () => {
    let seenTrace: string | undefined;
    const module: ServiceModule = {
      name: "perception",
      grpc: [
        serve(PerceptionService, {
          async perceive(request, context) {
            seenTrace = traceIdOf(context.metadata.traceparent);
            if (request.inputDir === "missing") throw new NotFoundError("no such folder");
            return {};
          },
        }),
      ],
    };
    const running = await startModule(module, { bus, logger, listen: { host: "127.0.0.1", port: 0 } });
    started.push(running);
    const client = createClient(PerceptionService, running.server!.address);
    try {
      const root = await inSpan("caller", {}, async (span) => {
        await client.perceive({ inputDir: "here" });
        await expect(client.perceive({ inputDir: "missing" })).rejects.toThrow("no such folder");
        return span;
      });
      expect(seenTrace).toBe(root.traceId);
      const served = spans.spans().filter((span) => span.name === "mlzero.v1.PerceptionService/Perceive");
      expect(served).toHaveLength(2);
      for (const span of served) expect(span).toMatchObject({ kind: "server", traceId: root.traceId, parentSpanId: root.spanId });
      expect(served.map((span) => span.failed)).toEqual([false, true]);
      const parsed = parseMetrics(await metricsText());
      const method = "mlzero.v1.PerceptionService/Perceive";
      expect(sampleSum(parsed, "mlzero_rpc_duration_seconds_count", { method, code: "OK" })).toBe(1);
      expect(sampleSum(parsed, "mlzero_rpc_duration_seconds_count", { method, code: "NOT_FOUND" })).toBe(1);
    } finally {
      client.close();
    }
  });
});
