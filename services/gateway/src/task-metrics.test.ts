import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { LlmUsageSchema, TaskSchema, TaskState } from "@mlzero/proto";
import { metricsText, parseMetrics, sampleSum } from "@mlzero/telemetry";
import { describe, expect, it } from "vitest";
import { withTaskMetrics } from "./task-metrics.js";
import { createMemoryTaskStore, type TaskSnapshot } from "./task-store.js";

const CREATED = Date.parse("2030-01-01T00:00:00Z");

function snapshot(state: TaskState, prompt: number, completion: number, finishedAfterMs?: number): TaskSnapshot {
  return {
    task: create(TaskSchema, {
      taskId: "t-metrics",
      tenant: "acme",
      state,
      createdAt: timestampFromMs(CREATED),
      finishedAt: finishedAfterMs === undefined ? undefined : timestampFromMs(CREATED + finishedAfterMs),
      llmUsage: [
        create(LlmUsageSchema, {
          agent: "coder",
          calls: 1,
          promptTokens: BigInt(prompt),
          completionTokens: BigInt(completion),
          costUsd: prompt / 10_000,
        }),
      ],
    }),
    idempotencyKey: "",
    context: undefined,
    marks: {},
    rank: 0,
    seenEventIds: [],
    history: [],
  };
}

async function scrape(): Promise<(name: string, labels?: Record<string, string>) => number> {
  const parsed = parseMetrics(await metricsText());
  return (name, labels) => sampleSum(parsed, name, labels);
}

describe("withTaskMetrics", () => {
  it("counts each task's states, end and LLM usage once per change, from what the gateway saves", async () => {
    const inner = createMemoryTaskStore();
    const store = withTaskMetrics(inner);
    await store.save(snapshot(TaskState.QUEUED, 0, 0));
    let sample = await scrape();
    expect(sample("mlzero_tasks_submitted_total", { tenant: "acme" })).toBe(1);
    expect(sample("mlzero_tasks", { tenant: "acme", state: "QUEUED" })).toBe(1);
    expect(sample("mlzero_queue_depth", { queue: "gateway_tasks" })).toBe(1);

    await store.save(snapshot(TaskState.CODING, 100, 20));
    await store.save(snapshot(TaskState.CODING, 100, 20)); // saved again, nothing new
    await store.save(snapshot(TaskState.EXECUTING, 150, 30));
    sample = await scrape();
    expect(sample("mlzero_tasks", { tenant: "acme", state: "QUEUED" })).toBe(0);
    expect(sample("mlzero_tasks", { tenant: "acme", state: "EXECUTING" })).toBe(1);
    expect(sample("mlzero_queue_depth", { queue: "gateway_tasks" })).toBe(0);
    expect(sample("mlzero_llm_tokens_total", { agent: "coder", kind: "prompt" })).toBe(150);
    expect(sample("mlzero_llm_tokens_total", { agent: "coder", kind: "completion" })).toBe(30);

    await store.save(snapshot(TaskState.SUCCEEDED, 160, 30, 90_000));
    await store.save(snapshot(TaskState.SUCCEEDED, 160, 30, 90_000));
    sample = await scrape();
    expect(sample("mlzero_tasks_finished_total", { tenant: "acme", outcome: "succeeded" })).toBe(1);
    expect(sample("mlzero_task_duration_seconds_sum", { outcome: "succeeded" })).toBe(90);
    expect(sample("mlzero_tasks", { tenant: "acme", state: "EXECUTING" })).toBe(0);
    expect(sample("mlzero_tasks", { tenant: "acme", state: "SUCCEEDED" })).toBe(1);
    expect(sample("mlzero_llm_tokens_total", { agent: "coder", kind: "prompt" })).toBe(160);
    expect(sample("mlzero_llm_cost_usd_total", { agent: "coder" })).toBeCloseTo(0.016);
    expect(sample("mlzero_llm_calls_total", { agent: "coder" })).toBe(1);
    expect(sample("mlzero_tasks_submitted_total", { tenant: "acme" })).toBe(1);

    // A restarted gateway loads the task without counting it again.
    const restarted = withTaskMetrics(inner);
    expect(await restarted.loadAll()).toHaveLength(1);
    sample = await scrape();
    expect(sample("mlzero_tasks_submitted_total", { tenant: "acme" })).toBe(1);
    expect(sample("mlzero_tasks_finished_total", { tenant: "acme" })).toBe(1);
    expect(sample("mlzero_llm_tokens_total", { agent: "coder" })).toBe(190);
  });

  it("takes a deleted task out of the gauges, whether it ended, waits, or was loaded at a restart", async () => {
    const ofTenant = (tenant: string, taskId: string, saved: TaskSnapshot) => {
      saved.task.tenant = tenant;
      saved.task.taskId = taskId;
      return saved;
    };
    const inner = createMemoryTaskStore();
    const store = withTaskMetrics(inner);
    await store.save(ofTenant("globex", "t-ended", snapshot(TaskState.FAILED, 0, 0, 1_000)));
    await store.save(ofTenant("globex", "t-waiting", snapshot(TaskState.QUEUED, 0, 0)));
    let sample = await scrape();
    const depth = sample("mlzero_queue_depth", { queue: "gateway_tasks" });
    expect(sample("mlzero_tasks", { tenant: "globex", state: "FAILED" })).toBe(1);
    expect(sample("mlzero_tasks", { tenant: "globex", state: "QUEUED" })).toBe(1);

    await store.delete("t-ended");
    await store.delete("t-ended"); // gone already: nothing more
    sample = await scrape();
    expect(sample("mlzero_tasks", { tenant: "globex", state: "FAILED" })).toBe(0);
    expect(sample("mlzero_tasks", { tenant: "globex" })).toBe(1);
    expect(sample("mlzero_tasks_finished_total", { tenant: "globex" })).toBe(1); // a counter: what happened stays
    await store.delete("t-waiting");
    sample = await scrape();
    expect(sample("mlzero_tasks", { tenant: "globex" })).toBe(0);
    expect(sample("mlzero_queue_depth", { queue: "gateway_tasks" })).toBe(depth - 1);
    expect(await inner.loadAll()).toEqual([]);

    await inner.save(ofTenant("initech", "t-loaded", snapshot(TaskState.SUCCEEDED, 0, 0, 1_000)));
    const restarted = withTaskMetrics(inner);
    await restarted.loadAll();
    expect((await scrape())("mlzero_tasks", { tenant: "initech" })).toBe(1);
    await restarted.delete("t-loaded");
    expect((await scrape())("mlzero_tasks", { tenant: "initech" })).toBe(0);
  });
});
