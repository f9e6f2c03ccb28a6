import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * The process's Prometheus registry: every `mlzero_*` family below, and the
 * process's own (CPU, memory, event loop, as `mlzero_process_*` and
 * `mlzero_nodejs_*`) once {@link collectProcessMetrics} ran. One per process:
 * a service's main serves it; the embedded mode's six services share it.
 */
export const registry = new Registry();

const LATENCY_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
const FAST_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

const tasks = new Gauge({
  name: "mlzero_tasks",
  help: "Tasks the gateway holds, by tenant and state (QUEUED, PERCEIVING, CODING, EXECUTING, ANALYZING, SUCCEEDED, FAILED, CANCELLED).",
  labelNames: ["tenant", "state"],
  registers: [registry],
});
const tasksSubmitted = new Counter({
  name: "mlzero_tasks_submitted_total",
  help: "Tasks the gateway accepted, by tenant.",
  labelNames: ["tenant"],
  registers: [registry],
});
const tasksFinished = new Counter({
  name: "mlzero_tasks_finished_total",
  help: "Tasks that ended, by tenant and outcome (succeeded, failed, cancelled).",
  labelNames: ["tenant", "outcome"],
  registers: [registry],
});
const taskDuration = new Histogram({
  name: "mlzero_task_duration_seconds",
  help: "Time from a task's Submit to its end, by outcome.",
  labelNames: ["outcome"],
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});
const stageDuration = new Histogram({
  name: "mlzero_stage_duration_seconds",
  help: "Time one stage of the loop took (perception, coding, execution, analysis), by outcome (ok, error).",
  labelNames: ["stage", "outcome"],
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});
const handlerDuration = new Histogram({
  name: "mlzero_event_handler_duration_seconds",
  help: "Time a pipeline event handler ran, by consumer group, event and outcome (ok, error).",
  labelNames: ["group", "event", "outcome"],
  buckets: FAST_BUCKETS,
  registers: [registry],
});
const eventAge = new Histogram({
  name: "mlzero_bus_event_age_seconds",
  help: "Time from an event's publishing (its envelope time) to its first delivery to a handler, by consumer group and event.",
  labelNames: ["group", "event"],
  buckets: FAST_BUCKETS,
  registers: [registry],
});
const consumerLag = new Gauge({
  name: "mlzero_bus_consumer_lag",
  help: "Kafka only: events on a topic's partitions that a consumer group has not reached yet, after its latest batch, by group and topic.",
  labelNames: ["group", "topic"],
  registers: [registry],
});
const queueDepth = new Gauge({
  name: "mlzero_queue_depth",
  help: "Work waiting, by queue: gateway_tasks (tasks accepted and not started), executor_runs (programs waiting for a run slot).",
  labelNames: ["queue"],
  registers: [registry],
});
const runsActive = new Gauge({
  name: "mlzero_executor_runs_active",
  help: "Programs the executor is running now (holding a run slot).",
  registers: [registry],
});
const llmTokens = new Counter({
  name: "mlzero_llm_tokens_total",
  help: "LLM tokens spent on tasks, by agent and kind (prompt, completion).",
  labelNames: ["agent", "kind"],
  registers: [registry],
});
const llmCost = new Counter({
  name: "mlzero_llm_cost_usd_total",
  help: "LLM cost in US dollars spent on tasks, by agent.",
  labelNames: ["agent"],
  registers: [registry],
});
const llmCalls = new Counter({
  name: "mlzero_llm_calls_total",
  help: "LLM calls made for tasks, by agent.",
  labelNames: ["agent"],
  registers: [registry],
});
const rpcDuration = new Histogram({
  name: "mlzero_rpc_duration_seconds",
  help: "Time a gRPC call took to answer (a stream: until it ended), by method and status code.",
  labelNames: ["method", "code"],
  buckets: FAST_BUCKETS,
  registers: [registry],
});

// Gauges start at zero for the queues, so a scrape shows them before any work.
queueDepth.set({ queue: "gateway_tasks" }, 0);
queueDepth.set({ queue: "executor_runs" }, 0);
runsActive.set(0);

/** How a piece of work ended, as the `outcome` label says it. */
export type Outcome = "ok" | "error";

/** The stages of the loop `mlzero_stage_duration_seconds` tells apart. */
export type Stage = "perception" | "coding" | "execution" | "analysis";

/** The queues `mlzero_queue_depth` tells apart. */
export type Queue = "gateway_tasks" | "executor_runs";

/** LLM usage of one agent, as `LlmUsage` carries it. */
export interface LlmSpend {
  agent: string;
  calls: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
}

/** The recording side of every `mlzero_*` family. */
export const metrics = {
  /** A task moved from one state to another (`from` undefined: it is new to this process; `to` undefined: it was forgotten). */
  taskState(tenant: string, from: string | undefined, to: string | undefined): void {
    if (from === to) return;
    if (from !== undefined) tasks.dec({ tenant, state: from });
    if (to !== undefined) tasks.inc({ tenant, state: to });
  },
  taskSubmitted(tenant: string): void {
    tasksSubmitted.inc({ tenant });
  },
  /** A task ended; `seconds` from its Submit when known. */
  taskFinished(tenant: string, outcome: string, seconds?: number): void {
    tasksFinished.inc({ tenant, outcome });
    if (seconds !== undefined && seconds >= 0) taskDuration.observe({ outcome }, seconds);
  },
  stage(stage: Stage, seconds: number, outcome: Outcome = "ok"): void {
    stageDuration.observe({ stage, outcome }, seconds);
  },
  handler(group: string, event: string, seconds: number, outcome: Outcome): void {
    handlerDuration.observe({ group, event, outcome }, seconds);
  },
  eventAge(group: string, event: string, seconds: number): void {
    eventAge.observe({ group, event }, Math.max(0, seconds));
  },
  consumerLag(group: string, topic: string, lag: number): void {
    consumerLag.set({ group, topic }, lag);
  },
  queueDepth(queue: Queue, delta: number): void {
    queueDepth.inc({ queue }, delta);
  },
  setQueueDepth(queue: Queue, depth: number): void {
    queueDepth.set({ queue }, depth);
  },
  runsActive(delta: number): void {
    runsActive.inc(delta);
  },
  llm(spend: LlmSpend): void {
    const agent = spend.agent || "unknown";
    if (spend.promptTokens > 0) llmTokens.inc({ agent, kind: "prompt" }, spend.promptTokens);
    if (spend.completionTokens > 0) llmTokens.inc({ agent, kind: "completion" }, spend.completionTokens);
    if (spend.costUsd > 0) llmCost.inc({ agent }, spend.costUsd);
    if (spend.calls > 0) llmCalls.inc({ agent }, spend.calls);
  },
  rpc(method: string, code: string, seconds: number): void {
    rpcDuration.observe({ method, code }, seconds);
  },
};

let processMetrics = false;

/** Adds the process's own metrics (CPU, resident memory, heap, event loop lag) to the registry; once per process. */
export function collectProcessMetrics(): void {
  if (processMetrics) return;
  processMetrics = true;
  collectDefaultMetrics({ register: registry, prefix: "mlzero_" });
}

/** The registry in the Prometheus text format, as `/metrics` serves it. */
export function metricsText(): Promise<string> {
  return registry.metrics();
}

/** The content type of {@link metricsText}. */
export const METRICS_CONTENT_TYPE = registry.contentType;
