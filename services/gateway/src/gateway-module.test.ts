import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { createInProcessBus, newEnvelope, type EventBus, type InProcessBus } from "@mlzero/bus";
import { createSilentLogger } from "@mlzero/logging";
import {
  AnalysisSchema,
  CodeGeneratedSchema,
  ExecutionFinishedSchema,
  IterationAnalyzedSchema,
  TaskContextSchema,
  TaskFinishedSchema,
  TaskPerceivedSchema,
  TaskService,
  TaskState,
  Verdict,
  type TaskSubmitted,
  type WatchResponse,
} from "@mlzero/proto";
import { localClient } from "@mlzero/rpc";
import { taskWorkspace } from "@mlzero/workspace";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFileTaskStore } from "./file-task-store.js";
import { createGatewayModule } from "./gateway-module.js";
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

async function startGateway(store: TaskStore, options: { bus?: EventBus; deadlineGraceMs?: number } = {}) {
  const bus = options.bus ?? createInProcessBus({ logger, retryBackoffMs: 1 });
  if (!options.bus) buses.push(bus as InProcessBus);
  const module = createGatewayModule({ bus, logger, workspaceRoot, defaults, store, deadlineGraceMs: options.deadlineGraceMs });
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
