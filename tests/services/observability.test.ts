import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { EventBus } from "@mlzero/bus";
import { createKafkaBus } from "@mlzero/bus-kafka";
import { readAllRecords } from "@mlzero/bus-kafka/testing";
import { startEmbeddedSystem, type EmbeddedSystem } from "@mlzero/cli";
import { openBearerTokenFile } from "@mlzero/gateway";
import { createLogger, createSilentLogger, type Logger } from "@mlzero/logging";
import { TaskService, TaskState } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import {
  createMemorySpanExporter,
  inSpan,
  parseMetrics,
  sampleSum,
  startMetricsServer,
  startTracing,
  type FinishedSpan,
  type MetricsServer,
} from "@mlzero/telemetry";
import { MLZERO_METRIC_FAMILIES } from "@mlzero/telemetry/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKafkaBroker, type KafkaBroker } from "../support/kafka-broker.js";
import { REPO_ROOT } from "../support/run-cli.js";
import { serviceBaseEnv, spawnServiceProcess } from "../support/cluster-harness.js";
import { eventually, waitFinished } from "../support/task-checks.js";

// One task through all six services, submitted over gRPC with a trace and a
// bearer token, on the in-process bus and then on Kafka: the /metrics
// endpoint serves every family with the task's samples (a real HTTP scrape,
// parsed), the trace started by the caller runs through every service's
// handler spans, the captured logs carry task and tenant ids and no
// credential nor data value, and no record on Kafka holds the token.

const SECRET = "zq-secret-token-8c1f";
const DATA_MARKER = "zqcellvalue";
const DESCRIPTION_MARKER = "zqdescription";

const spans = createMemorySpanExporter();
const tracing = startTracing({ serviceName: "mlzero-embedded", exporter: spans.exporter, immediate: true });
let metrics: MetricsServer;
let dataDir: string;

beforeAll(async () => {
  metrics = await startMetricsServer({ host: "127.0.0.1", port: 0 });
  dataDir = await writeTask(await mkdtemp(path.join(os.tmpdir(), "mlzero-obs-")));
});
afterAll(async () => {
  await metrics?.close();
  await tracing.shutdown();
});

/** A small binary task whose `note` column holds marked values, so a data value in a log line is found. */
async function writeTask(root: string): Promise<string> {
  const dir = path.join(root, "marked");
  await mkdir(dir, { recursive: true });
  const rows = Array.from({ length: 240 }, (_, index) => {
    const x1 = ((index * 37) % 100) / 10;
    const x2 = ((index * 53) % 100) / 10;
    return { id: `r${index}`, x1, x2, note: `${DATA_MARKER}${index % 3}`, label: x1 + x2 > 10 ? "yes" : "no" };
  });
  const line = (row: (typeof rows)[number], label: boolean) => [row.id, row.x1, row.x2, row.note, ...(label ? [row.label] : [])].join(",");
  await writeFile(
    path.join(dir, "train.csv"),
    ["id,x1,x2,note,label", ...rows.slice(0, 180).map((row) => line(row, true))].join("\n") + "\n",
  );
  await writeFile(path.join(dir, "test.csv"), ["id,x1,x2,note", ...rows.slice(180).map((row) => line(row, false))].join("\n") + "\n");
  return dir;
}

function capturingLogger(): { logger: Logger; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ service: "mlzero", level: "debug", destination }), text: () => chunks.join("") };
}

async function scrape(): Promise<ReturnType<typeof parseMetrics>> {
  const response = await fetch(metrics.url);
  expect(response.status).toBe(200);
  return parseMetrics(await response.text());
}

interface Run {
  taskId: string;
  state: TaskState;
  traceId: string;
  rootSpanId: string;
  logs: string;
}

/** Starts the embedded system on `bus` (in-process when undefined), runs one task over gRPC inside a client span. */
async function runTask(bus: EventBus | undefined): Promise<Run> {
  const { logger, text } = capturingLogger();
  const workspaceRoot = await mkdtemp(path.join(os.tmpdir(), "mlzero-obs-ws-"));
  // The token is checked, so it passes through the gateway's authentication as a real one does.
  const tokensFile = path.join(workspaceRoot, "tokens");
  await writeFile(tokensFile, `${SECRET} default\n`);
  const system: EmbeddedSystem<EventBus> = await startEmbeddedSystem<EventBus>({
    workspaceRoot,
    pythonBin: path.join(REPO_ROOT, ".venv", "bin", "python"),
    logger,
    defaults: { maxIterations: 1, timeLimitSeconds: 300, iterationTimeLimitSeconds: 240, memoryLimitBytes: 4 * 1024 ** 3 },
    serveGrpc: true,
    authenticator: await openBearerTokenFile({ file: tokensFile, logger }),
    ...(bus ? { bus } : {}),
  });
  const tasks = createClient(TaskService, system.addresses.gateway!, { metadata: { authorization: `Bearer ${SECRET}` } });
  try {
    const { taskId, traceId, spanId } = await inSpan("client submit", { kind: "client" }, async (span) => {
      const { task } = await tasks.submit({
        spec: {
          inputUri: dataDir,
          description: `Predict label for each id. ${DESCRIPTION_MARKER}`,
          budget: { toolHint: "sklearn", maxIterations: 1, timeLimit: durationFromMs(300_000) },
        },
      });
      return { taskId: task!.taskId, traceId: span.traceId, spanId: span.spanId };
    });
    const task = await waitFinished(tasks, taskId, 240_000);
    await tracing.flush();
    return { taskId, state: task.state, traceId, rootSpanId: spanId, logs: text() };
  } finally {
    tasks.close();
    await system.stop();
  }
}

/** The spans of one trace, checked to form one tree under the caller's span. */
function traceOf(run: Run): FinishedSpan[] {
  const trace = spans.spans().filter((span) => span.traceId === run.traceId);
  const ids = new Set([run.rootSpanId, ...trace.map((span) => span.spanId)]);
  const orphans = trace.filter((span) => span.name !== "client submit" && !ids.has(span.parentSpanId ?? ""));
  expect(orphans.map((span) => span.name)).toEqual([]);
  return trace;
}

function checkTrace(run: Run): void {
  const trace = traceOf(run);
  const submit = trace.find((span) => span.name === "mlzero.v1.TaskService/Submit");
  expect(submit).toMatchObject({ kind: "server", parentSpanId: run.rootSpanId });
  const perception = trace.find((span) => span.name === "perception TaskSubmitted");
  expect(perception?.parentSpanId).toBe(submit!.spanId);
  for (const name of [
    "analyzer TaskPerceived",
    "coder RoundPlanned",
    "executor CodeGenerated",
    "analyzer ExecutionFinished",
    "gateway TaskFinished",
  ]) {
    const span = trace.find((candidate) => candidate.name === name);
    expect(span, `${name} in the trace`).toBeDefined();
    expect(span!.attributes).toMatchObject({ "mlzero.task_id": run.taskId, "mlzero.tenant": "default" });
  }
  // The analyzer judges the run the executor reported: its span descends from the executor's.
  const judged = trace.find((span) => span.name === "analyzer ExecutionFinished")!;
  const executed = trace.find((span) => span.name === "executor CodeGenerated")!;
  expect(judged.parentSpanId).toBe(executed.spanId);
}

function checkLogs(run: Run): void {
  expect(run.logs).not.toContain(SECRET);
  expect(run.logs).not.toContain(DATA_MARKER);
  expect(run.logs).not.toContain(DESCRIPTION_MARKER);
  const lines = run.logs
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const about = lines.filter((line) => line.taskId === run.taskId);
  // Every service that worked on the task said so with its id and tenant.
  expect([...new Set(about.map((line) => line.service))]).toEqual(
    expect.arrayContaining(["gateway", "perception", "coder", "executor", "analyzer"]),
  );
  for (const line of about) expect(line.tenant, JSON.stringify(line)).toBe("default");
  // Lines written inside a handler or call carry its trace: this task's lines carry the caller's.
  const traced = about.filter((line) => line.traceId !== undefined);
  expect(traced.length).toBeGreaterThan(0);
  for (const line of traced) expect(line.traceId, JSON.stringify(line)).toBe(run.traceId);
}

async function checkMetrics(run: Run, before: ReturnType<typeof parseMetrics>): Promise<ReturnType<typeof parseMetrics>> {
  const after = await scrape();
  const grew = (name: string, labels: Record<string, string> = {}) => sampleSum(after, name, labels) - sampleSum(before, name, labels);
  for (const family of [...MLZERO_METRIC_FAMILIES, "mlzero_process_cpu_seconds_total"]) {
    expect(after.types.has(family), family).toBe(true);
  }
  const outcome = TaskState[run.state].toLowerCase();
  expect(grew("mlzero_tasks_submitted_total", { tenant: "default" })).toBe(1);
  expect(grew("mlzero_tasks_finished_total", { tenant: "default", outcome })).toBe(1);
  expect(grew("mlzero_tasks", { tenant: "default", state: TaskState[run.state] })).toBe(1);
  expect(grew("mlzero_task_duration_seconds_count", { outcome })).toBe(1);
  for (const stage of ["perception", "coding", "execution", "analysis"]) {
    expect(grew("mlzero_stage_duration_seconds_count", { stage }), stage).toBeGreaterThanOrEqual(1);
  }
  expect(grew("mlzero_event_handler_duration_seconds_count", { group: "analyzer", event: "ExecutionFinished", outcome: "ok" })).toBe(1);
  expect(grew("mlzero_bus_event_age_seconds_count", { group: "gateway" })).toBeGreaterThanOrEqual(5);
  expect(grew("mlzero_rpc_duration_seconds_count", { method: "mlzero.v1.TaskService/Submit", code: "OK" })).toBe(1);
  expect(sampleSum(after, "mlzero_executor_runs_active")).toBe(0);
  expect(sampleSum(after, "mlzero_queue_depth", { queue: "executor_runs" })).toBe(0);
  expect(sampleSum(after, "mlzero_queue_depth", { queue: "gateway_tasks" })).toBe(0);
  return after;
}

describe("a service process", () => {
  it("serves /metrics when MLZERO_METRICS_PORT is set", async () => {
    const gateway = spawnServiceProcess("gateway", {
      ...serviceBaseEnv(),
      MLZERO_GRPC_HOST: "127.0.0.1",
      MLZERO_GRPC_PORT: "0",
      MLZERO_LOG_LEVEL: "info",
      MLZERO_WORKSPACE_ROOT: await mkdtemp(path.join(os.tmpdir(), "mlzero-obs-gw-")),
      MLZERO_METRICS_PORT: "0",
    });
    try {
      const logged = async (message: string) =>
        eventually(`"${message}" in the gateway's log`, () => {
          const line = gateway
            .output()
            .split("\n")
            .find((text) => text.includes(`"msg":"${message}"`));
          return line && (JSON.parse(line) as Record<string, unknown>);
        });
      const { url } = (await logged("metrics listening")) as { url: string };
      const { port } = (await logged("gRPC server listening")) as { port: number };
      const tasks = createClient(TaskService, `127.0.0.1:${port}`);
      try {
        await tasks.submit({ spec: { inputUri: dataDir } }, { metadata: { authorization: `Bearer ${SECRET}` } });
      } finally {
        tasks.close();
      }
      const text = await (await fetch(url)).text();
      const parsed = parseMetrics(text);
      // Alone on its bus, the gateway hands the task on (its own TaskSubmitted) and nobody perceives it.
      expect(sampleSum(parsed, "mlzero_tasks_submitted_total", { tenant: "default" })).toBe(1);
      expect(sampleSum(parsed, "mlzero_tasks", { tenant: "default", state: "PERCEIVING" })).toBe(1);
      expect(sampleSum(parsed, "mlzero_queue_depth", { queue: "gateway_tasks" })).toBe(0);
      expect(sampleSum(parsed, "mlzero_rpc_duration_seconds_count", { method: "mlzero.v1.TaskService/Submit", code: "OK" })).toBe(1);
      expect(sampleSum(parsed, "mlzero_process_resident_memory_bytes")).toBeGreaterThan(0);
      expect(text).not.toContain(SECRET);
      expect(gateway.output()).not.toContain(SECRET);
    } finally {
      gateway.child.kill("SIGTERM");
      expect((await gateway.closed).code).toBe(0);
    }
  }, 60_000);
});

describe("observability of a task", () => {
  it("on the in-process bus: metrics scraped over HTTP, one trace from the caller to the analyzer, clean logs", async () => {
    const before = await scrape();
    const run = await runTask(undefined);
    expect(run.state).toBe(TaskState.SUCCEEDED);
    await checkMetrics(run, before);
    checkTrace(run);
    checkLogs(run);
  }, 300_000);

  describe("on Kafka", () => {
    let broker: KafkaBroker | undefined;
    beforeAll(async () => {
      broker = await startKafkaBroker();
    }, 150_000);
    afterAll(async () => broker?.stop());

    it("carries the trace across Kafka, and reports consumer lag", async () => {
      const bus = await createKafkaBus({ brokers: broker!.brokers, clientId: "mlzero-obs", logger: createSilentLogger(), partitions: 2 });
      try {
        const before = await scrape();
        const run = await runTask(bus);
        expect(run.state).toBe(TaskState.SUCCEEDED);
        const after = await checkMetrics(run, before);
        checkTrace(run);
        checkLogs(run);
        // Nor any record on any topic (events, task state), in its key, value or headers.
        const records = await readAllRecords(broker!.brokers);
        expect(records.some((record) => record.topic.startsWith("mlzero.") && record.key?.toString() === run.taskId)).toBe(true);
        for (const record of records) {
          const stored = [record.key?.toString("latin1"), record.value?.toString("latin1"), ...Object.values(record.headers)].join("\n");
          expect(stored, record.topic).not.toContain(SECRET);
        }
        const lag = after.samples.filter((sample) => sample.name === "mlzero_bus_consumer_lag");
        expect(lag.some((sample) => sample.labels.group === "analyzer" && sample.labels.topic === "mlzero.execution-finished.v1")).toBe(
          true,
        );
        for (const sample of lag) expect(sample.value).toBeGreaterThanOrEqual(0);
      } finally {
        await bus.close();
      }
    }, 300_000);
  });
});
