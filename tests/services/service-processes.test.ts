import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  AnalyzerService,
  CoderService,
  ExecutorService,
  MemoryService,
  PerceptionService,
  TaskService,
  TaskState,
  Verdict,
  type PerceptualContext,
} from "@mlzero/proto";
import { checkHealth, createClient } from "@mlzero/rpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { groupAlive, processAlive, runServiceToExit, startCluster, type Cluster, type ServiceName } from "../support/cluster-harness.js";
import { generateSpeciesTask, type GeneratedTask } from "../support/generate-tasks.js";

// Each service's main.ts as its own process, the way the cluster runs it:
// its own port, its own in-process bus, and perception and coder reaching
// memory over real gRPC across processes. The processes come from the
// cluster harness (tests/support/cluster-harness.ts) without a broker.

let cluster: Cluster | undefined;
let dataRoot: string | undefined;

afterAll(async () => {
  await cluster?.close();
  if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
});

/** SIGTERM to exit: a drain takes well under this. */
const STOP_TIMEOUT_MS = 5_000;

describe("each service as its own process", () => {
  let workspaceRoot: string;
  let data: GeneratedTask;
  const address = (name: ServiceName) => cluster!.address(name);

  beforeAll(async () => {
    dataRoot = await mkdtemp(path.join(os.tmpdir(), "mlzero-procs-data-"));
    data = await generateSpeciesTask(dataRoot, 5, 600);
    cluster = await startCluster({ logLevel: "warn" });
    workspaceRoot = cluster.workspaceRoot;
  });

  it("serves grpc.health.v1 for each service name", async () => {
    const names: Record<ServiceName, string> = {
      gateway: "mlzero.v1.TaskService",
      perception: "mlzero.v1.PerceptionService",
      memory: "mlzero.v1.MemoryService",
      coder: "mlzero.v1.CoderService",
      executor: "mlzero.v1.ExecutorService",
      analyzer: "mlzero.v1.AnalyzerService",
    };
    for (const [name, service] of Object.entries(names) as [ServiceName, string][]) {
      expect(await checkHealth(address(name), service), name).toBe("SERVING");
    }
    // Each listens on its own port, in its own process.
    expect(new Set(Object.keys(names).map((name) => address(name as ServiceName))).size).toBe(6);
    expect(new Set(Object.keys(names).map((name) => cluster!.pid(name as ServiceName))).size).toBe(6);
  });

  it("runs one iteration by hand, each call crossing a process boundary", async () => {
    const memory = createClient(MemoryService, address("memory"));
    const perception = createClient(PerceptionService, address("perception"));
    const coder = createClient(CoderService, address("coder"));
    const executor = createClient(ExecutorService, address("executor"));
    const analyzer = createClient(AnalyzerService, address("analyzer"));
    try {
      const { tools } = await memory.listTools({});
      expect(tools.map((tool) => tool.name)).toContain("lightgbm");

      // Perception ranks tools through memory's gRPC API in the memory process.
      const { context } = await perception.perceive({ inputDir: data.inputDir });
      expect(context?.labelColumn).toBe(data.labelColumn);
      expect(context?.tools.map((tool) => tool.name)).toContain("lightgbm");

      const taskId = "procs-by-hand";
      await mkdir(path.join(workspaceRoot, "default", taskId), { recursive: true });
      await cp(data.inputDir, path.join(workspaceRoot, "default", taskId, "input"), { recursive: true });

      // The coder retrieves its template from the memory process.
      const { program } = await coder.generate({
        taskId,
        tenant: "default",
        iteration: 1,
        context: context as PerceptualContext,
        // reduce_level 2 asks the template for its linear model: this test is
        // about process boundaries, and a linear fit stays a second or two even
        // when other test files keep the CPUs busy (gradient boosting's OpenMP
        // threads slow down tenfold when oversubscribed).
        fix: { tool: "sklearn", reduceLevel: 2, plan: "a light model for the process test" },
        timeLimitSeconds: 90,
      });
      expect(program?.tool).toBe("sklearn");

      const { result } = await executor.execute(
        { taskId, tenant: "default", iteration: 1, program, timeLimit: durationFromMs(90_000), memoryLimitBytes: 4n * 1024n ** 3n },
        { timeoutMs: 100_000 },
      );
      expect(result?.exitCode, result?.stderrTail).toBe(0);

      const { analysis } = await analyzer.analyze({
        taskId,
        tenant: "default",
        iteration: 1,
        context,
        program,
        result,
        budget: { maxIterations: 3 },
      });
      expect(analysis?.verdict, analysis?.checks.join("\n")).toBe(Verdict.SUCCESS);
    } finally {
      for (const client of [memory, perception, coder, executor, analyzer]) client.close();
    }
    // About 2 s on an idle machine; the margin is for a CI box busy with other runs.
  }, 120_000);

  it("serves TaskService standalone: submit, get, list and cancel", async () => {
    // With the in-process bus nothing downstream hears TaskSubmitted, so the
    // task stays queued until cancelled; the gateway's own projection ends it.
    const tasks = createClient(TaskService, address("gateway"));
    try {
      const { task } = await tasks.submit({ spec: { inputUri: data.inputDir } });
      const taskId = task!.taskId;
      expect(taskId).toMatch(/\S/);
      expect((await tasks.get({ taskId })).task?.taskId).toBe(taskId);
      expect((await tasks.list({})).tasks.map((listed) => listed.taskId)).toContain(taskId);

      await tasks.cancel({ taskId, reason: "test" });
      const states: TaskState[] = [];
      for await (const update of tasks.watch({ taskId }, { timeoutMs: 10_000 })) states.push(update.task!.state);
      expect(states.at(-1)).toBe(TaskState.CANCELLED);
      expect((await tasks.get({ taskId })).task?.state).toBe(TaskState.CANCELLED);
    } finally {
      tasks.close();
    }
  });

  it("drains and exits 0 on SIGTERM, leaving no process behind", async () => {
    // Callers first, memory last, as a rolling shutdown would.
    for (const name of ["gateway", "analyzer", "executor", "coder", "perception", "memory"] as const) {
      const pid = cluster!.pid(name)!;
      const started = Date.now();
      const exit = await cluster!.stop(name);
      expect(Date.now() - started, `${name} took that long to stop on SIGTERM`).toBeLessThan(STOP_TIMEOUT_MS);
      expect(exit, cluster!.logTail(name)).toEqual({ code: 0, signal: null });
      expect(cluster!.errorLines(name), `${name} logged errors`).toEqual([]);
      expect(processAlive(pid), `${name} still running`).toBe(false);
      expect(groupAlive(pid), `a process of ${name}'s group still running`).toBe(false);
    }
  });
});

describe("a service with a bad config", () => {
  const expectOneLineNaming = (stderr: string, variable: string) => {
    const lines = stderr.trim().split("\n");
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toContain(variable);
    expect(stderr).not.toMatch(/^\s+at /m);
  };

  it("stops the gateway with exit code 2 when MLZERO_WORKSPACE_ROOT is missing", async () => {
    const { code, stderr, output } = await runServiceToExit("gateway", {});
    expect(code, output).toBe(2);
    expectOneLineNaming(stderr, "MLZERO_WORKSPACE_ROOT");
  });

  it("stops the coder with exit code 2 when MLZERO_MEMORY_ADDRESS is not host:port", async () => {
    const { code, stderr, output } = await runServiceToExit("coder", { MLZERO_MEMORY_ADDRESS: "not-an-address" });
    expect(code, output).toBe(2);
    expectOneLineNaming(stderr, "MLZERO_MEMORY_ADDRESS");
  });

  it("stops a service on the Kafka bus with exit code 2 when MLZERO_KAFKA_BROKERS is missing or malformed, or a topic setting is", async () => {
    for (const brokers of [{}, { MLZERO_KAFKA_BROKERS: "127.0.0.1" }] as Record<string, string>[]) {
      const { code, stderr, output } = await runServiceToExit("analyzer", { MLZERO_BUS: "kafka", ...brokers });
      expect(code, output).toBe(2);
      expectOneLineNaming(stderr, "MLZERO_KAFKA_BROKERS");
    }
    for (const [name, value] of [
      ["MLZERO_KAFKA_PARTITIONS", "0"],
      ["MLZERO_KAFKA_REPLICATION_FACTOR", "three"],
    ] as const) {
      const { code, stderr, output } = await runServiceToExit("analyzer", {
        MLZERO_BUS: "kafka",
        MLZERO_KAFKA_BROKERS: "127.0.0.1:9",
        [name]: value,
      });
      expect(code, output).toBe(2);
      expectOneLineNaming(stderr, name);
    }
  });

  it("stops any service with exit code 2 on a malformed MLZERO_GRPC_PORT", async () => {
    const { code, stderr, output } = await runServiceToExit("memory", { MLZERO_GRPC_PORT: "http" });
    expect(code, output).toBe(2);
    expectOneLineNaming(stderr, "MLZERO_GRPC_PORT");
  });
});
