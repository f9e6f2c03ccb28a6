import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metrics, parseMetrics, sampleSum, startMetricsServer, type MetricsServer } from "./index.js";
import { MLZERO_METRIC_FAMILIES } from "./testing.js";

describe("the /metrics endpoint", () => {
  let server: MetricsServer;
  beforeAll(async () => {
    server = await startMetricsServer({ host: "127.0.0.1", port: 0 });
  });
  afterAll(() => server.close());

  it("serves every mlzero family and the process's own in the text format", async () => {
    metrics.taskState("acme", undefined, "QUEUED");
    metrics.taskState("acme", "QUEUED", "RUNNING");
    metrics.taskFinished("acme", "succeeded", 12);
    metrics.stage("perception", 0.4);
    metrics.llm({ agent: "coder", calls: 2, promptTokens: 100, completionTokens: 20, costUsd: 0.01 });
    const response = await fetch(server.url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const parsed = parseMetrics(await response.text());
    for (const family of [...MLZERO_METRIC_FAMILIES, "mlzero_process_resident_memory_bytes"]) {
      expect(parsed.types.has(family), family).toBe(true);
    }
    expect([...parsed.types.keys()].filter((name) => !name.startsWith("mlzero_"))).toEqual([]);
    expect(sampleSum(parsed, "mlzero_tasks", { tenant: "acme", state: "RUNNING" })).toBe(1);
    expect(sampleSum(parsed, "mlzero_tasks", { tenant: "acme", state: "QUEUED" })).toBe(0);
    expect(sampleSum(parsed, "mlzero_tasks_finished_total", { outcome: "succeeded" })).toBe(1);
    expect(sampleSum(parsed, "mlzero_stage_duration_seconds_count", { stage: "perception" })).toBe(1);
    expect(sampleSum(parsed, "mlzero_llm_tokens_total", { agent: "coder" })).toBe(120);
    expect(sampleSum(parsed, "mlzero_queue_depth", { queue: "executor_runs" })).toBe(0);
  });

  it("answers 404 off /metrics", async () => {
    expect((await fetch(server.url.replace("/metrics", "/other"))).status).toBe(404);
  });
});
