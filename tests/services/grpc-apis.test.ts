import { cp, mkdir, mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  AnalyzerService,
  CoderService,
  ExecutorService,
  KnowledgeKind,
  MemoryService,
  PerceptionService,
  TaskService,
  TaskState,
  Verdict,
  type PerceptualContext,
} from "@mlzero/proto";
import { GrpcStatus, RpcError, checkHealth, createClient } from "@mlzero/rpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSystem } from "../support/embedded.js";
import { generateSpeciesTask, type GeneratedTask } from "../support/generate-tasks.js";

const SERVICES = {
  gateway: "mlzero.v1.TaskService",
  perception: "mlzero.v1.PerceptionService",
  memory: "mlzero.v1.MemoryService",
  coder: "mlzero.v1.CoderService",
  executor: "mlzero.v1.ExecutorService",
  analyzer: "mlzero.v1.AnalyzerService",
} as const;

async function codeOf(promise: Promise<unknown>): Promise<number | undefined> {
  return promise.then(
    () => undefined,
    (error: RpcError) => error.code,
  );
}

describe("every service over real gRPC on 127.0.0.1", () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let data: GeneratedTask;
  beforeAll(async () => {
    system = await startTestSystem();
    data = await generateSpeciesTask(await mkdtemp(path.join(os.tmpdir(), "mlzero-grpc-")), 5, 600);
  });
  afterAll(async () => system?.stop());

  it("answers grpc.health.v1 for each service", async () => {
    for (const [name, service] of Object.entries(SERVICES)) {
      const address = system.addresses[name]!;
      expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(await checkHealth(address)).toBe("SERVING");
      expect(await checkHealth(address, service)).toBe("SERVING");
    }
  });

  it("runs one iteration by hand through each agent's own API", async () => {
    const memory = createClient(MemoryService, system.addresses.memory!);
    const { tools } = await memory.listTools({});
    expect(tools.map((tool) => tool.name)).toEqual(expect.arrayContaining(["autogluon", "lightgbm", "sklearn", "xgboost"]));
    const { hits } = await memory.retrieve({ tool: "sklearn", kind: KnowledgeKind.TEMPLATE, query: "template" });
    expect(hits[0]?.text).toContain("__MLZERO_CONFIG__");

    const perception = createClient(PerceptionService, system.addresses.perception!);
    const { context } = await perception.perceive({ inputDir: data.inputDir });
    expect(context?.labelColumn).toBe("kind");

    const taskId = "grpc-by-hand";
    const taskDir = path.join(system.workspaceRoot, "default", taskId);
    await mkdir(taskDir, { recursive: true });
    await cp(data.inputDir, path.join(taskDir, "input"), { recursive: true });

    const coder = createClient(CoderService, system.addresses.coder!);
    const { program } = await coder.generate({
      taskId,
      tenant: "default",
      iteration: 1,
      context: context as PerceptualContext,
      // The linear model keeps this run short when other tests load the CPUs.
      fix: { tool: "sklearn", reduceLevel: 2 },
      timeLimitSeconds: 120,
    });
    expect(program?.tool).toBe("sklearn");

    const executor = createClient(ExecutorService, system.addresses.executor!);
    const { result } = await executor.execute(
      { taskId, tenant: "default", iteration: 1, program, timeLimit: durationFromMs(120_000), memoryLimitBytes: 4n * 1024n ** 3n },
      { timeoutMs: 180_000 },
    );
    expect(result?.exitCode, result?.stderrTail).toBe(0);

    const analyzer = createClient(AnalyzerService, system.addresses.analyzer!);
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
    expect(analysis?.score).toBeGreaterThan(0.5);
    for (const client of [memory, perception, coder, executor, analyzer]) client.close();
  });

  it("serves TaskService: submit, get, list, watch and cancel", async () => {
    const tasks = createClient(TaskService, system.addresses.gateway!);
    const { task } = await tasks.submit({ spec: { inputUri: data.inputDir }, idempotencyKey: "same-request" });
    const again = await tasks.submit({ spec: { inputUri: data.inputDir }, idempotencyKey: "same-request" });
    expect(again.task?.taskId).toBe(task!.taskId);
    expect((await tasks.get({ taskId: task!.taskId })).task?.taskId).toBe(task!.taskId);
    expect((await tasks.list({})).tasks.map((listed) => listed.taskId)).toContain(task!.taskId);

    const cancelled = await tasks.cancel({ taskId: task!.taskId, reason: "test" });
    expect(cancelled.task?.taskId).toBe(task!.taskId);
    const states: TaskState[] = [];
    for await (const update of tasks.watch({ taskId: task!.taskId })) states.push(update.task!.state);
    expect(states.at(-1)).toBe(TaskState.CANCELLED);
    expect((await tasks.list({ state: TaskState.CANCELLED })).tasks.map((listed) => listed.taskId)).toContain(task!.taskId);
    tasks.close();
  });

  it("answers bad requests with the right status codes", async () => {
    const tasks = createClient(TaskService, system.addresses.gateway!);
    expect(await codeOf(tasks.get({ taskId: "no-such-task" }))).toBe(GrpcStatus.NOT_FOUND);
    expect(await codeOf(tasks.submit({ spec: { inputUri: "/no/such/folder" } }))).toBe(GrpcStatus.NOT_FOUND);
    expect(await codeOf(tasks.submit({ spec: { inputUri: "" } }))).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(await codeOf(tasks.submit({ spec: { inputUri: await mkdtemp(path.join(os.tmpdir(), "mlzero-empty-")) } }))).toBe(
      GrpcStatus.INVALID_ARGUMENT,
    );
    expect(await codeOf(tasks.list({ pageToken: "garbage" }))).toBe(GrpcStatus.INVALID_ARGUMENT);
    const perception = createClient(PerceptionService, system.addresses.perception!);
    expect(await codeOf(perception.perceive({ inputDir: "/no/such/folder" }))).toBe(GrpcStatus.NOT_FOUND);
    tasks.close();
    perception.close();
  });
});
