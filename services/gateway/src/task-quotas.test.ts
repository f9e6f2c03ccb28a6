import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { createInProcessBus, newEnvelope, type InProcessBus } from "@mlzero/bus";
import { createSilentLogger } from "@mlzero/logging";
import { TaskFinishedSchema, TaskService, TaskState, type BudgetSchema, type Task, type WatchResponse } from "@mlzero/proto";
import { createClient, localClient, serverCredentialsFromEnv, startGrpcServer } from "@mlzero/rpc";
import { callOutcome } from "@mlzero/rpc/testing";
import { metricsText, parseMetrics, sampleSum } from "@mlzero/telemetry";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Authenticator } from "./bearer-tokens.js";
import { createFileTaskStore } from "./file-task-store.js";
import { createGatewayModule, type GatewayModule } from "./gateway-module.js";
import { NO_QUOTAS, fixedQuotas, openQuotaFile, type QuotaPolicy, type Quotas, type TenantQuota } from "./quotas.js";
import { withTaskMetrics } from "./task-metrics.js";
import { createMemoryTaskStore, type TaskStore } from "./task-store.js";

// Quotas and fair admission in a gateway on a real in-process bus, with no
// pipeline: a spy in perception's group sees each TaskSubmitted (a task
// started), and the test ends a task by publishing its TaskFinished, as
// the analyzer would. A crash is a new module on the same task store.

type BudgetInit = MessageInitShape<typeof BudgetSchema>;

const logger = createSilentLogger();
const defaults = { maxIterations: 5, timeLimitSeconds: 600, iterationTimeLimitSeconds: 60, memoryLimitBytes: 2 ** 30 };
/** The call's tenant from its metadata, as a bearer token would give it. */
const byHeader: Authenticator = { tenantOf: async (metadata) => metadata["x-tenant"] ?? "default" };

let root: string;
let workspaceRoot: string;
let dataDir: string;
const buses: InProcessBus[] = [];
const modules: GatewayModule[] = [];

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "task-quotas-"));
  workspaceRoot = path.join(root, "workspace");
  dataDir = path.join(root, "data");
  await mkdir(dataDir, { recursive: true });
  await writeFile(path.join(dataDir, "train.csv"), "id,y\n1,a\n");
});

afterEach(async () => {
  for (const module of modules.splice(0)) await module.stop!();
  for (const bus of buses.splice(0)) await bus.close();
  await rm(root, { recursive: true, force: true });
});

function policy(
  defaultsOf: Partial<TenantQuota> = {},
  total: Partial<QuotaPolicy["total"]> = {},
  tenants: Record<string, Partial<TenantQuota>> = {},
): QuotaPolicy {
  return {
    defaults: { ...NO_QUOTAS.defaults, ...defaultsOf },
    tenants: new Map(Object.entries(tenants)),
    total: { ...NO_QUOTAS.total, ...total },
  };
}

interface GatewayOptions {
  store?: TaskStore;
  quotas: QuotaPolicy | Quotas;
  admitEveryMs?: number;
  deadlineGraceMs?: number;
}

async function startGateway(options: GatewayOptions) {
  const bus = createInProcessBus({ logger, retryBackoffMs: 1 });
  buses.push(bus);
  /** Task ids in the order they were started (their TaskSubmitted). */
  const started: string[] = [];
  await bus.subscribe({ group: "perception", handlers: { TaskSubmitted: async (event) => void started.push(event.envelope!.taskId) } });
  const quotas = "current" in options.quotas ? options.quotas : fixedQuotas(options.quotas);
  const module = createGatewayModule({
    bus,
    logger,
    workspaceRoot,
    defaults,
    store: options.store ?? createMemoryTaskStore(),
    authenticator: byHeader,
    quotas,
    admitEveryMs: options.admitEveryMs,
    deadlineGraceMs: options.deadlineGraceMs,
  });
  modules.push(module);
  await bus.subscribe(module.pipeline!);
  await module.start();
  await bus.whenIdle();
  const tasks = localClient(TaskService, module.taskService);
  const as = (tenant: string) => {
    const metadata = { "x-tenant": tenant };
    return {
      submit: async (budget: BudgetInit = {}): Promise<Task> =>
        (await tasks.submit({ spec: { inputUri: dataDir, budget } }, { metadata })).task!,
      get: async (taskId: string): Promise<Task> => (await tasks.get({ taskId }, { metadata })).task!,
      cancel: (taskId: string) => tasks.cancel({ taskId }, { metadata }),
      watch: (taskId: string) => tasks.watch({ taskId }, { metadata }),
    };
  };
  /** Ends a task as the analyzer would, and waits for the gateway to take it in. */
  const finish = async (task: Task) => {
    const envelope = newEnvelope({ taskId: task.taskId, tenant: task.tenant, iteration: 0 });
    await bus.publish("TaskFinished", create(TaskFinishedSchema, { envelope, state: TaskState.FAILED, reason: "ended by the test" }));
    await bus.whenIdle();
  };
  return { bus, module, started, as, finish };
}

async function queueDepth(): Promise<number> {
  return sampleSum(parseMetrics(await metricsText()), "mlzero_queue_depth", { queue: "gateway_tasks" });
}

async function collect(stream: AsyncIterable<WatchResponse>): Promise<WatchResponse[]> {
  const updates: WatchResponse[] = [];
  for await (const update of stream) updates.push(update);
  return updates;
}

describe("quotas at Submit", () => {
  it("answers RESOURCE_EXHAUSTED with the limit, over gRPC: a full queue, more GPUs than the tenant or the gateway may hold", async () => {
    const gateway = await startGateway({
      quotas: policy({ maxRunningTasks: 1, maxQueuedTasks: 2, maxGpus: 4 }, { maxGpus: 6 }, { globex: { maxGpus: 8 } }),
    });
    const server = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      logger,
      services: gateway.module.grpc,
      credentials: serverCredentialsFromEnv({}),
    });
    const dial = (tenant: string) =>
      createClient(TaskService, server.address, { defaultTimeoutMs: 10_000, metadata: { "x-tenant": tenant } });
    const acme = dial("acme");
    const globex = dial("globex");
    const submit = (client: typeof acme, budget: BudgetInit = {}) => callOutcome(client.submit({ spec: { inputUri: dataDir, budget } }));
    try {
      // One running, two queued: the queue is full.
      for (let index = 0; index < 3; index++) expect(await submit(acme)).toEqual({ code: "OK", message: "" });
      expect(await submit(acme)).toEqual({ code: "RESOURCE_EXHAUSTED", message: "tenant acme has 2 queued tasks, its limit is 2" });
      expect(await submit(acme, { gpus: 2, parallelism: 4 })).toEqual({
        code: "RESOURCE_EXHAUSTED",
        message:
          "the task needs 8 GPUs at once (2 per run × 4 runs in a round), tenant acme may hold at most 4: lower budget.parallelism or set budget.max_gpus",
      });
      expect(await submit(acme, { gpus: 5, parallelism: 1 })).toEqual({
        code: "RESOURCE_EXHAUSTED",
        message: "the task needs 5 GPUs at once, tenant acme may hold at most 4",
      });
      expect(await submit(globex, { gpus: 7, parallelism: 1 })).toEqual({
        code: "RESOURCE_EXHAUSTED",
        message: "the task needs 7 GPUs at once, this gateway runs at most 6 at once",
      });
      // Within the limits once max_gpus cuts the round: 3 runs of 2 GPUs.
      expect(await submit(globex, { gpus: 2, parallelism: 4, maxGpus: 6 })).toEqual({ code: "OK", message: "" });
      // A refused Submit copied nothing.
      expect(await readdir(path.join(workspaceRoot, "acme"))).toHaveLength(3);

      // A cancelled queued task frees its place in the queue.
      const { tasks } = await acme.list({ state: TaskState.QUEUED });
      expect(tasks).toHaveLength(2);
      await acme.cancel({ taskId: tasks[0]!.taskId });
      await gateway.bus.whenIdle();
      expect(await submit(acme)).toEqual({ code: "OK", message: "" });
    } finally {
      acme.close();
      globex.close();
      await server.stop(100);
    }
  });
});

describe("fair admission", () => {
  it("starts another tenant's task before a burst's backlog, and the burst in arrival order as slots free", async () => {
    const depthBefore = await queueDepth();
    const gateway = await startGateway({
      store: withTaskMetrics(createMemoryTaskStore()),
      quotas: policy({ maxRunningTasks: 1, maxQueuedTasks: 50 }),
    });
    const acme = gateway.as("acme");
    const burst: Task[] = [];
    for (let index = 0; index < 51; index++) burst.push(await acme.submit());
    await expect(acme.submit()).rejects.toThrow("tenant acme has 50 queued tasks, its limit is 50");
    const theirs = await gateway.as("globex").submit();
    await gateway.bus.whenIdle();
    expect(gateway.started).toEqual([burst[0]!.taskId, theirs.taskId]);
    expect((await gateway.as("globex").get(theirs.taskId)).state).toBe(TaskState.PERCEIVING);
    // The backlog waits, saying why, with no start time; the queue-depth gauge counts it.
    const waiting = await acme.get(burst[1]!.taskId);
    expect(waiting).toMatchObject({ state: TaskState.QUEUED, message: "queued: tenant acme runs 1 task, its limit is 1" });
    expect(waiting.startedAt).toBeUndefined();
    expect((await acme.get(burst[2]!.taskId)).message).toBe("queued: behind 1 queued task of tenant acme");
    expect((await queueDepth()) - depthBefore).toBe(50);

    await gateway.finish(burst[0]!);
    await gateway.finish(burst[1]!);
    expect(gateway.started).toEqual([burst[0]!.taskId, theirs.taskId, burst[1]!.taskId, burst[2]!.taskId]);
    const next = await acme.get(burst[2]!.taskId);
    expect(next.state).toBe(TaskState.PERCEIVING);
    expect(next.startedAt).toBeDefined();
    const updates = await collect(acme.watch(burst[1]!.taskId));
    expect(updates.map((update) => update.event)).toEqual(["TaskSubmitted", "TaskStarted", "TaskSubmitted", "TaskFinished"]);
    expect(updates[1]!.task?.message).toMatch(/^started after \d+ s in the queue$/);
    expect((await queueDepth()) - depthBefore).toBe(48);
  });

  it("takes turns across tenants when the gateway's slots are scarce", async () => {
    const gateway = await startGateway({ quotas: policy({}, { maxRunningTasks: 1 }) });
    const submitted = new Map<string, Task>();
    const submit = async (tenant: string, name: string) => submitted.set(name, await gateway.as(tenant).submit());
    await submit("acme", "a1");
    for (const name of ["a2", "a3", "a4"]) await submit("acme", name);
    for (const name of ["g1", "g2"]) await submit("globex", name);
    await submit("initech", "i1");
    await gateway.bus.whenIdle();
    expect(gateway.started).toHaveLength(1);
    while (gateway.started.length < submitted.size) {
      const running = [...submitted.values()].find((task) => task.taskId === gateway.started.at(-1));
      await gateway.finish(running!);
    }
    const names = new Map([...submitted].map(([name, task]) => [task.taskId, name]));
    expect(gateway.started.map((taskId) => names.get(taskId))).toEqual(["a1", "g1", "i1", "a2", "g2", "a3", "a4"]);
  });

  it("counts a task's GPUs, one run's times its round, and bounds a task that leaves its width to the analyzer", async () => {
    const gateway = await startGateway({ quotas: policy({ maxGpus: 4 }, {}, { globex: { maxGpus: 0 } }) });
    const acme = gateway.as("acme");
    const wide = await acme.submit({ gpus: 2, parallelism: 2 });
    const small = await acme.submit({ gpus: 1 });
    await gateway.bus.whenIdle();
    expect(gateway.started).toEqual([wide.taskId]);
    expect(small.message).toBe("queued: tenant acme holds 4 of its 4 GPUs, the task needs 1");
    // Its width left to the analyzer's default, it is bounded to the 1 GPU counted for it.
    expect(small.spec?.budget?.maxGpus).toBe(1);
    expect(wide.spec?.budget?.maxGpus).toBe(0);
    expect((await gateway.as("globex").submit({ gpus: 1 })).spec?.budget?.maxGpus).toBe(0);
    await gateway.finish(wide);
    expect(gateway.started).toContain(small.taskId);
  });

  it("cancels a queued task without starting it, and starts the next one in its place", async () => {
    const gateway = await startGateway({ quotas: policy({ maxRunningTasks: 1 }) });
    const acme = gateway.as("acme");
    const [first, second, third] = [await acme.submit(), await acme.submit(), await acme.submit()];
    const cancelled = (await acme.cancel(second!.taskId)).task!;
    expect(cancelled.taskId).toBe(second!.taskId);
    await gateway.bus.whenIdle();
    const ended = await acme.get(second!.taskId);
    expect(ended).toMatchObject({ state: TaskState.CANCELLED, message: "cancelled by the client" });
    expect(ended.startedAt).toBeUndefined();
    await expect(acme.cancel(second!.taskId)).rejects.toThrow("has already finished (cancelled)");
    await gateway.finish(first!);
    expect(gateway.started).toEqual([first!.taskId, third!.taskId]);
  });

  it("runs a task's time limit from its start, not while it waits", async () => {
    const gateway = await startGateway({ quotas: policy({ maxRunningTasks: 1 }), deadlineGraceMs: 0 });
    const acme = gateway.as("acme");
    const first = await acme.submit();
    const waiting = await acme.submit({ timeLimit: durationFromMs(600) });
    await sleep(900);
    expect((await acme.get(waiting.taskId)).state).toBe(TaskState.QUEUED);
    await gateway.finish(first);
    expect(gateway.started).toEqual([first.taskId, waiting.taskId]);
    const updates = await collect(acme.watch(waiting.taskId));
    expect(updates.at(-1)?.task).toMatchObject({ state: TaskState.FAILED, message: "the task ran past its time limit of 1 s" });
  });

  it("starts waiting tasks when a reloaded quota file raises a limit, with no other event", async () => {
    const file = path.join(root, "quotas.json");
    const writeQuotas = async (quotas: unknown) => {
      await writeFile(`${file}.new`, JSON.stringify(quotas));
      await rename(`${file}.new`, file);
    };
    await writeQuotas({ defaults: { max_running_tasks: 1 } });
    const quotas = await openQuotaFile({ file, logger, checkEveryMs: 0 });
    const gateway = await startGateway({ quotas, admitEveryMs: 20 });
    const acme = gateway.as("acme");
    const tasks = [await acme.submit(), await acme.submit(), await acme.submit()];
    await sleep(100);
    expect(gateway.started).toEqual([tasks[0]!.taskId]);
    await writeQuotas({ defaults: { max_running_tasks: 2 } });
    await vi.waitFor(() => expect(gateway.started).toEqual([tasks[0]!.taskId, tasks[1]!.taskId]), { timeout: 2_000 });
    await sleep(100);
    expect(gateway.started).toHaveLength(2);
  });
});

describe("a restarted gateway with queued tasks", () => {
  it("keeps them waiting in their order, starts them as slots free, and never starts a task twice", async () => {
    const open = () => createFileTaskStore({ dir: path.join(root, "state") });
    const first = await startGateway({ store: open(), quotas: policy({ maxRunningTasks: 1 }) });
    const acme = first.as("acme");
    const tasks = [await acme.submit(), await acme.submit(), await acme.submit()];
    await first.bus.whenIdle();
    expect(first.started).toEqual([tasks[0]!.taskId]);
    // Crash: nothing is stopped.

    const second = await startGateway({ store: open(), quotas: policy({ maxRunningTasks: 1 }) });
    expect(second.started).toEqual([]); // the running one was announced; the others still wait
    expect((await second.as("acme").get(tasks[0]!.taskId)).state).toBe(TaskState.PERCEIVING);
    expect((await second.as("acme").get(tasks[2]!.taskId)).message).toBe("queued: behind 1 queued task of tenant acme");
    await second.finish(tasks[0]!);
    expect(second.started).toEqual([tasks[1]!.taskId]);

    // Again, with room for every task: the last one starts as the gateway does.
    const third = await startGateway({ store: open(), quotas: policy({ maxRunningTasks: 5 }) });
    expect(third.started).toEqual([tasks[2]!.taskId]);
    const states = await Promise.all(tasks.map(async (task) => (await third.as("acme").get(task.taskId)).state));
    expect(states).toEqual([TaskState.FAILED, TaskState.PERCEIVING, TaskState.PERCEIVING]);
  });
});
