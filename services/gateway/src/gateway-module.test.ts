import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createInProcessBus, newEnvelope, type EventBus, type InProcessBus } from "@mlzero/bus";
import { createSilentLogger, type Logger } from "@mlzero/logging";
import {
  AnalysisSchema,
  CodeGeneratedSchema,
  ExecutionFinishedSchema,
  IterationAnalyzedSchema,
  TaskContextSchema,
  TaskFinishedSchema,
  TaskPerceivedSchema,
  TaskSchema,
  TaskService,
  TaskState,
  Verdict,
  type TaskSubmitted,
  type WatchResponse,
} from "@mlzero/proto";
import { localClient } from "@mlzero/rpc";
import { taskWorkspace } from "@mlzero/workspace";
import { metricsText, parseMetrics, sampleSum } from "@mlzero/telemetry";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createFileTaskStore } from "./file-task-store.js";
import { createGatewayModule } from "./gateway-module.js";
import { TaskBoard } from "./task-board.js";
import { withTaskMetrics } from "./task-metrics.js";
import { createMemoryTaskStore, type TaskStore } from "./task-store.js";

// A gateway "process" is a bus and a module on a task store. A crash is
// played by dropping both without stopping anything; the restarted gateway
// is a new module on the same store (and workspace), whose start rebuilds
// the board.

const logger = createSilentLogger();
const defaults = { maxIterations: 5, timeLimitSeconds: 600, iterationTimeLimitSeconds: 60, memoryLimitBytes: 2 ** 30 };

let root: string;
let workspaceRoot: string;
let dataDir: string;
const buses: InProcessBus[] = [];

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "gateway-module-"));
  workspaceRoot = path.join(root, "workspace");
  dataDir = path.join(root, "data");
  await mkdir(dataDir, { recursive: true });
  await writeFile(path.join(dataDir, "train.csv"), "id,y\n1,a\n");
});

afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.close();
  await rm(root, { recursive: true, force: true });
});

interface StartOptions {
  bus?: EventBus;
  logger?: Logger;
  deadlineGraceMs?: number;
  taskRetentionMs?: number;
  retentionSweepEveryMs?: number;
}

async function startGateway(store: TaskStore, options: StartOptions = {}) {
  const bus = options.bus ?? createInProcessBus({ logger, retryBackoffMs: 1 });
  if (!options.bus) buses.push(bus as InProcessBus);
  const module = createGatewayModule({ logger, workspaceRoot, defaults, ...options, bus, store });
  await bus.subscribe(module.pipeline!);
  await module.start();
  return { bus: bus as InProcessBus, module, tasks: localClient(TaskService, module.taskService) };
}

async function collect(stream: AsyncIterable<WatchResponse>): Promise<WatchResponse[]> {
  const updates: WatchResponse[] = [];
  for await (const update of stream) updates.push(update);
  return updates;
}

function envelope(taskId: string, iteration: number) {
  return newEnvelope({ taskId, tenant: "default", iteration });
}

const context = () =>
  create(TaskContextSchema, {
    perception: { labelColumn: "y", metric: { name: "accuracy" }, tools: [{ name: "lightgbm" }], output: { fileName: "submission.csv" } },
  });

const program = { candidateId: "iter-001-lightgbm", tool: "lightgbm", code: "print(1)" };

// How a restarted gateway opens its store: the same object for the memory
// store (its content plays the durable state), a new one on the same folder
// for files.
describe.each([
  [
    "in memory",
    () => {
      const store = createMemoryTaskStore();
      return () => store;
    },
  ],
  ["in files", () => () => createFileTaskStore({ dir: path.join(root, "state") })],
])("a gateway restarted on its task store (%s)", (_, opener) => {
  it("keeps its tasks, continues a task to completion, resumes Watch, and ignores redelivered events", async () => {
    const open = opener();
    const first = await startGateway(open());
    const { task } = await first.tasks.submit({ spec: { inputUri: dataDir }, idempotencyKey: "job-1" });
    const taskId = task!.taskId;
    const executionFinished = create(ExecutionFinishedSchema, {
      envelope: envelope(taskId, 1),
      task: context(),
      program,
      result: { exitCode: 0, iterationDir: "iter-001", duration: durationFromMs(1_000) },
    });
    await first.bus.publish("TaskPerceived", create(TaskPerceivedSchema, { envelope: envelope(taskId, 0), task: context() }));
    await first.bus.publish("CodeGenerated", create(CodeGeneratedSchema, { envelope: envelope(taskId, 1), task: context(), program }));
    await first.bus.publish("ExecutionFinished", executionFinished);
    await first.bus.whenIdle();
    const before = (await first.tasks.get({ taskId })).task!;
    expect(before.state).toBe(TaskState.ANALYZING);
    // Crash: nothing is stopped, nothing more is saved.

    const second = await startGateway(open());
    const after = (await second.tasks.get({ taskId })).task!;
    expect(after).toEqual(before);
    expect((await second.tasks.list({})).tasks.map((listed) => listed.taskId)).toEqual([taskId]);
    expect((await second.tasks.submit({ spec: { inputUri: dataDir }, idempotencyKey: "job-1" })).task?.taskId).toBe(taskId);

    const watching = collect(second.tasks.watch({ taskId, afterSequence: before.sequence }));
    // Redelivered: the uncommitted event comes again.
    await second.bus.publish("ExecutionFinished", executionFinished);
    await second.bus.whenIdle();
    expect((await second.tasks.get({ taskId })).task?.sequence).toBe(before.sequence);

    const workspace = taskWorkspace(workspaceRoot, "default", taskId);
    await mkdir(path.join(workspace.iterationDir(1), "outputs"), { recursive: true });
    await writeFile(path.join(workspace.iterationDir(1), "outputs", "submission.csv"), "id,y\n1,a\n");
    const analyzed = create(IterationAnalyzedSchema, {
      envelope: envelope(taskId, 1),
      task: context(),
      program,
      analysis: create(AnalysisSchema, { verdict: Verdict.SUCCESS, summary: "valid", score: 0.9 }),
    });
    const finished = create(TaskFinishedSchema, {
      envelope: envelope(taskId, 1),
      state: TaskState.SUCCEEDED,
      reason: "succeeded in iteration 1 with lightgbm",
      bestIteration: 1,
      bestProgram: program,
      score: 0.9,
      predictionsPath: "iter-001/outputs/submission.csv",
    });
    await second.bus.publish("IterationAnalyzed", analyzed);
    await second.bus.publish("TaskFinished", finished);
    await second.bus.whenIdle();

    const resumed = await watching;
    expect(resumed.map((update) => update.event)).toEqual(["IterationAnalyzed", "TaskFinished"]);
    expect(resumed.map((update) => update.sequence)).toEqual([before.sequence + 1n, before.sequence + 2n]);
    const done = (await second.tasks.get({ taskId })).task!;
    expect(done.state).toBe(TaskState.SUCCEEDED);
    expect(done.iterations).toHaveLength(1);
    expect(await readFile(path.join(workspace.outputDir, "submission.csv"), "utf8")).toBe("id,y\n1,a\n");

    // TaskFinished and IterationAnalyzed delivered again: the output is written once, nothing changes.
    await writeFile(path.join(workspace.outputDir, "marker"), "");
    await second.bus.publish("IterationAnalyzed", analyzed);
    await second.bus.publish("TaskFinished", finished);
    await second.bus.whenIdle();
    expect(await readdir(workspace.outputDir)).toContain("marker");
    expect((await second.tasks.get({ taskId })).task).toEqual(done);
    await second.module.stop!();

    // And once more from the store: finished stays finished, and Watch replays what is kept.
    const third = await startGateway(open());
    expect((await third.tasks.get({ taskId })).task).toEqual(done);
    const replay = await collect(third.tasks.watch({ taskId, afterSequence: 0n }));
    expect(replay.at(-1)?.task?.state).toBe(TaskState.SUCCEEDED);
    expect(replay.map((update) => update.sequence)).toEqual(Array.from({ length: Number(done.sequence) }, (_, index) => BigInt(index + 1)));
  });
});

describe("a restarted gateway", () => {
  it("re-arms the deadline watchdog of a running task from its deadline", async () => {
    const store = createMemoryTaskStore();
    const first = await startGateway(store, { deadlineGraceMs: 0 });
    const { task } = await first.tasks.submit({ spec: { inputUri: dataDir, budget: { timeLimit: durationFromMs(800) } } });
    await first.module.stop!(); // its timers die with it

    const second = await startGateway(store, { deadlineGraceMs: 0 });
    const ended = await collect(second.tasks.watch({ taskId: task!.taskId, afterSequence: 0n }));
    expect(ended.at(-1)?.task).toMatchObject({ state: TaskState.FAILED, message: "the task ran past its time limit of 1 s" });
  });

  it("announces again a task it accepted but died before announcing", async () => {
    const store = createMemoryTaskStore();
    const dying: EventBus = {
      ...createInProcessBus({ logger }),
      publish: async () => {
        throw new Error("the process died");
      },
    };
    const first = createGatewayModule({ bus: dying, logger, workspaceRoot, defaults, store });
    await expect(localClient(TaskService, first.taskService).submit({ spec: { inputUri: dataDir } })).rejects.toThrow("the process died");
    await first.stop!();

    const bus = createInProcessBus({ logger, retryBackoffMs: 1 });
    buses.push(bus);
    const announced: TaskSubmitted[] = [];
    await bus.subscribe({ group: "perception", handlers: { TaskSubmitted: async (event) => void announced.push(event) } });
    const second = await startGateway(store, { bus });
    await bus.whenIdle();
    expect(announced).toHaveLength(1);
    const [listed] = (await second.tasks.list({})).tasks;
    expect(announced[0]!.envelope?.taskId).toBe(listed!.taskId);
    expect(listed!.state).toBe(TaskState.PERCEIVING);
    await sleep(10);
  });
});

describe("events of a task from different topics", () => {
  it("keeps the last iteration when TaskFinished comes before its IterationAnalyzed", async () => {
    const gateway = await startGateway(createMemoryTaskStore());
    const { task } = await gateway.tasks.submit({ spec: { inputUri: dataDir } });
    const taskId = task!.taskId;
    const workspace = taskWorkspace(workspaceRoot, "default", taskId);
    await mkdir(path.join(workspace.iterationDir(1), "outputs"), { recursive: true });
    await writeFile(path.join(workspace.iterationDir(1), "outputs", "submission.csv"), "id,y\n1,a\n");
    const ended = context();
    ended.attempts.push({
      $typeName: "mlzero.v1.Attempt",
      iteration: 1,
      candidateId: program.candidateId,
      tool: "lightgbm",
      verdict: Verdict.SUCCESS,
      failure: 0,
      analysis: "valid",
      score: 0.9,
    });
    await gateway.bus.publish(
      "TaskFinished",
      create(TaskFinishedSchema, {
        envelope: envelope(taskId, 1),
        state: TaskState.SUCCEEDED,
        reason: "succeeded in iteration 1 with lightgbm",
        bestIteration: 1,
        bestProgram: program,
        score: 0.9,
        predictionsPath: "iter-001/outputs/submission.csv",
        task: ended,
      }),
    );
    await gateway.bus.whenIdle();
    // Too late: the task has ended.
    await gateway.bus.publish(
      "IterationAnalyzed",
      create(IterationAnalyzedSchema, {
        envelope: envelope(taskId, 1),
        task: ended,
        program,
        analysis: create(AnalysisSchema, { verdict: Verdict.SUCCESS, summary: "valid", score: 0.9 }),
      }),
    );
    await gateway.bus.whenIdle();
    const done = (await gateway.tasks.get({ taskId })).task!;
    expect(done.state).toBe(TaskState.SUCCEEDED);
    expect(done.iterations).toMatchObject([
      { iteration: 1, candidateId: program.candidateId, tool: "lightgbm", verdict: Verdict.SUCCESS, score: 0.9 },
    ]);
  });
});

describe("retention of ended tasks", () => {
  const HOUR_MS = 3_600_000;
  const ids = (tasks: { taskId: string }[]) => tasks.map((task) => task.taskId).sort();
  const exists = (folder: string) =>
    access(folder).then(
      () => true,
      () => false,
    );
  const folderOf = (taskId: string) => taskWorkspace(workspaceRoot, "default", taskId).taskDir;

  /** Saves a task as a gateway long gone left it: created `ageMs` ago, in `state`, ended `endedAgoMs` ago when given. */
  async function saveOld(store: TaskStore, taskId: string, state: TaskState, ageMs: number, endedAgoMs?: number, key = "") {
    const now = Date.now();
    const board = new TaskBoard();
    const task = create(TaskSchema, {
      taskId,
      tenant: "default",
      state,
      spec: { inputUri: dataDir, budget: { timeLimit: durationFromMs(29 * 24 * HOUR_MS) } },
      createdAt: timestampFromMs(now - ageMs),
      startedAt: state === TaskState.QUEUED ? undefined : timestampFromMs(now - ageMs),
      finishedAt: endedAgoMs === undefined ? undefined : timestampFromMs(now - endedAgoMs),
    });
    board.add(task, key);
    await store.save(board.snapshot(taskId)!);
    await mkdir(taskWorkspace(workspaceRoot, "default", taskId).inputDir, { recursive: true });
  }

  async function gauge(labels: Record<string, string>): Promise<number> {
    return sampleSum(parseMetrics(await metricsText()), "mlzero_tasks", labels);
  }

  it("forgets at start what ended past the retention while it was down, and keeps a task that has not ended however old", async () => {
    const inner = createMemoryTaskStore();
    await saveOld(inner, "t-ended", TaskState.SUCCEEDED, 9 * 24 * HOUR_MS, 2 * HOUR_MS, "job-old");
    await saveOld(inner, "t-ended-lately", TaskState.FAILED, 9 * 24 * HOUR_MS, HOUR_MS / 2);
    await saveOld(inner, "t-running", TaskState.EXECUTING, 10 * 24 * HOUR_MS);
    await saveOld(inner, "t-queued", TaskState.QUEUED, 10 * 24 * HOUR_MS);
    // No sweep but the one at start within this test.
    const gateway = await startGateway(withTaskMetrics(inner), { taskRetentionMs: HOUR_MS, retentionSweepEveryMs: 60_000 });

    await expect(gateway.tasks.get({ taskId: "t-ended" })).rejects.toThrow("task t-ended not found");
    expect(ids((await gateway.tasks.list({})).tasks)).toEqual(["t-ended-lately", "t-queued", "t-running"]);
    expect(ids((await inner.loadAll()).map((saved) => saved.task))).toEqual(["t-ended-lately", "t-queued", "t-running"]);
    expect(await exists(folderOf("t-ended"))).toBe(false);
    for (const kept of ["t-ended-lately", "t-queued", "t-running"]) expect(await exists(folderOf(kept))).toBe(true);
    expect(await gauge({ tenant: "default", state: "SUCCEEDED" })).toBe(0);
    expect(await gauge({ tenant: "default", state: "FAILED" })).toBe(1);
    // Its key is free: the same Submit makes a new task.
    const { task } = await gateway.tasks.submit({ spec: { inputUri: dataDir }, idempotencyKey: "job-old" });
    expect(task!.taskId).not.toBe("t-ended");
    await gateway.module.stop!();
  });

  it("forgets a task once it ended longer ago than the retention, for good; a failure is logged and retried without holding up the others", async () => {
    const inner = createMemoryTaskStore();
    // The store cannot delete the first task twice: the sweeps go on with the others and try it again.
    let failures = 2;
    let failing = "";
    const flaky: TaskStore = {
      ...inner,
      async delete(taskId) {
        if (taskId === failing && failures-- > 0) throw new Error("the store is unavailable");
        await inner.delete(taskId);
      },
    };
    // The gauges are this process's: counted from here.
    const tasksBefore = await gauge({ tenant: "default" });
    const testLogger = createSilentLogger();
    const warn = vi.spyOn(testLogger, "warn");
    const info = vi.spyOn(testLogger, "info");
    const first = await startGateway(withTaskMetrics(flaky), { logger: testLogger, taskRetentionMs: 300, retentionSweepEveryMs: 20 });
    const submit = async (idempotencyKey: string) =>
      (await first.tasks.submit({ spec: { inputUri: dataDir }, idempotencyKey })).task!.taskId;
    const [flakyOne, ended, running] = [await submit("job-1"), await submit("job-2"), await submit("job-3")];
    failing = flakyOne;
    await first.tasks.cancel({ taskId: flakyOne });
    await first.tasks.cancel({ taskId: ended });
    await first.bus.whenIdle();
    // Ended, and kept for the retention.
    expect((await first.tasks.get({ taskId: ended })).task?.state).toBe(TaskState.CANCELLED);
    expect(await gauge({ tenant: "default", state: "CANCELLED" })).toBe(2);

    await vi.waitFor(() => expect(first.tasks.get({ taskId: ended })).rejects.toThrow("not found"), { timeout: 5_000, interval: 20 });
    await vi.waitFor(() => expect(first.tasks.get({ taskId: flakyOne })).rejects.toThrow("not found"), { timeout: 5_000, interval: 20 });
    expect(failures).toBe(-1); // failed twice, then deleted
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ taskId: flakyOne }),
      "could not forget an ended task past its retention; tried again on the next sweep",
    );
    expect(info).toHaveBeenCalledWith({ forgotten: 1, retentionHours: 300 / HOUR_MS }, "forgot tasks ended past their retention");
    expect(ids((await first.tasks.list({})).tasks)).toEqual([running]);
    expect(ids((await inner.loadAll()).map((saved) => saved.task))).toEqual([running]);
    expect(await exists(folderOf(ended))).toBe(false);
    expect(await exists(folderOf(flakyOne))).toBe(false);
    expect(await exists(folderOf(running))).toBe(true);
    await expect(collect(first.tasks.watch({ taskId: ended, afterSequence: 0n }))).rejects.toThrow("not found");
    await expect(first.tasks.cancel({ taskId: ended })).rejects.toThrow("not found");
    expect(await gauge({ tenant: "default", state: "CANCELLED" })).toBe(0);
    expect(await gauge({ tenant: "default" })).toBe(tasksBefore + 1);
    // Running past the retention, and still there.
    expect((await first.tasks.get({ taskId: running })).task?.state).toBe(TaskState.PERCEIVING);

    const again = await submit("job-1");
    expect(again).not.toBe(flakyOne);
    await first.module.stop!();

    // Restarted with no retention: what was forgotten stays forgotten.
    const second = await startGateway(inner);
    await expect(second.tasks.get({ taskId: ended })).rejects.toThrow("not found");
    expect(ids((await second.tasks.list({})).tasks)).toEqual([again, running].sort());
    expect(await submit("job-1")).toBe(again);
  });
});
