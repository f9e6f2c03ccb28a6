import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createInProcessBus, newEnvelope, type InProcessBus } from "@mlzero/bus";
import { createKafkaCompactedTopic } from "@mlzero/bus-kafka";
import { startKafkaBroker, type KafkaBroker } from "@mlzero/bus-kafka/broker";
import { createSilentLogger } from "@mlzero/logging";
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
  type WatchResponse,
} from "@mlzero/proto";
import { localClient } from "@mlzero/rpc";
import { taskWorkspace } from "@mlzero/workspace";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createGatewayModule } from "./gateway-module.js";
import { createKafkaTaskStore } from "./kafka-task-store.js";
import { TaskBoard } from "./task-board.js";
import { SNAPSHOT_HISTORY_LIMIT, type TaskStore } from "./task-store.js";

// The Kafka task store against a real broker. A gateway "process" is an
// in-process bus and a module on a Kafka store; a crash drops both without
// stopping anything, and the restarted gateway is a new module on a new
// store instance over the same topic.

const logger = createSilentLogger();
const defaults = { maxIterations: 5, timeLimitSeconds: 600, iterationTimeLimitSeconds: 60, memoryLimitBytes: 2 ** 30 };

let broker: KafkaBroker;
let topic: string;
let root: string;
let workspaceRoot: string;
let dataDir: string;
const stores: TaskStore[] = [];
const buses: InProcessBus[] = [];

beforeAll(async () => {
  broker = await startKafkaBroker();
});
afterAll(async () => {
  await broker?.stop();
});
beforeEach(async () => {
  topic = `task-state-${randomUUID().slice(0, 8)}`;
  root = await mkdtemp(path.join(tmpdir(), "kafka-task-store-"));
  workspaceRoot = path.join(root, "workspace");
  dataDir = path.join(root, "data");
  await mkdir(dataDir, { recursive: true });
  await writeFile(path.join(dataDir, "train.csv"), "id,y\n1,a\n");
});
afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.close();
  await Promise.all(stores.splice(0).map((store) => store.close?.()));
  await rm(root, { recursive: true, force: true });
});

/** A new store instance on this test's topic, as a restarted gateway opens it. */
function openStore(): TaskStore {
  const store = createKafkaTaskStore({ brokers: broker.brokers, clientId: "gateway-test", logger, topic, partitions: 4 });
  stores.push(store);
  return store;
}

/** The raw records of this test's topic, key → value. */
async function records(): Promise<Map<string, Buffer>> {
  const log = createKafkaCompactedTopic({ brokers: broker.brokers, clientId: "gateway-test-reader", logger, topic, partitions: 4 });
  try {
    return await log.readAll();
  } finally {
    await log.close();
  }
}

/** A board with one task moved through `steps` updates, saving after each as the gateway does. */
async function boardWithUpdates(store: TaskStore, board: TaskBoard, taskId: string, steps: number): Promise<void> {
  if (!board.get(taskId)) {
    board.add(create(TaskSchema, { taskId, state: TaskState.QUEUED, createdAt: timestampFromMs(Date.now()) }), `key-${taskId}`);
    await store.save(board.snapshot(taskId)!);
  }
  const saves: Promise<void>[] = [];
  for (let step = 0; step < steps; step++) {
    const seen = board.get(taskId)!.task.sequence;
    board.update(taskId, "ExecutionProgress", (task) => void (task.message = `step ${seen}`), `tail ${seen}`, `event-${seen}`);
    // Not awaited one by one: saves of a task are written in order anyway.
    saves.push(store.save(board.snapshot(taskId)!));
  }
  await Promise.all(saves);
}

async function startGateway(store: TaskStore) {
  const bus = createInProcessBus({ logger, retryBackoffMs: 1 });
  buses.push(bus);
  const module = createGatewayModule({ bus, logger, workspaceRoot, defaults, store });
  await bus.subscribe(module.pipeline!);
  await module.start();
  return { bus, module, tasks: localClient(TaskService, module.taskService) };
}

async function collect(stream: AsyncIterable<WatchResponse>): Promise<WatchResponse[]> {
  const updates: WatchResponse[] = [];
  for await (const update of stream) updates.push(update);
  return updates;
}

const envelope = (taskId: string, iteration: number) => newEnvelope({ taskId, tenant: "default", iteration });
const context = () =>
  create(TaskContextSchema, {
    perception: { labelColumn: "y", metric: { name: "accuracy" }, tools: [{ name: "lightgbm" }], output: { fileName: "submission.csv" } },
  });
const program = { candidateId: "iter-001-lightgbm", tool: "lightgbm", code: "print(1)" };

describe("Kafka task store", () => {
  it("loads in a new instance what another saved: the latest snapshot of every task, with its Watch updates", async () => {
    const store = openStore();
    expect(await store.loadAll()).toEqual([]);
    const board = new TaskBoard();
    await boardWithUpdates(store, board, "t1", 5);
    await boardWithUpdates(store, board, "t2", 1);

    const loaded = await openStore().loadAll();
    expect(loaded.map((snapshot) => snapshot.task.taskId).sort()).toEqual(["t1", "t2"]);
    const t1 = loaded.find((snapshot) => snapshot.task.taskId === "t1")!;
    expect(t1).toEqual(board.snapshot("t1"));
    expect(t1.seenEventIds).toEqual(["event-1", "event-2", "event-3", "event-4", "event-5"]);
    expect(t1.history.map((update) => [update.sequence, update.logTail])).toEqual([
      [1n, ""],
      [2n, "tail 1"],
      [3n, "tail 2"],
      [4n, "tail 3"],
      [5n, "tail 4"],
      [6n, "tail 5"],
    ]);
    // One record per task and one per Watch update: a save writes what is new, not the whole history.
    expect([...(await records()).keys()].sort()).toEqual(
      ["task/t1", "task/t2", "update/t2/1", "update/t2/2", ...[1, 2, 3, 4, 5, 6].map((sequence) => `update/t1/${sequence}`)].sort(),
    );
  });

  it("keeps the latest Watch updates of a long task, deleting older ones, and goes on where a previous instance stopped", async () => {
    const board = new TaskBoard();
    await boardWithUpdates(openStore(), board, "long", SNAPSHOT_HISTORY_LIMIT + 49); // sequences 1..250

    const second = openStore();
    const [loaded] = await second.loadAll();
    expect(loaded).toEqual(board.snapshot("long"));
    expect(loaded!.history.map((update) => update.sequence)).toEqual(
      Array.from({ length: SNAPSHOT_HISTORY_LIMIT }, (_, index) => BigInt(index + 51)),
    );
    expect((await records()).size).toBe(1 + SNAPSHOT_HISTORY_LIMIT);

    // The latest value wins: the second instance saves ten more updates over the first's records.
    await boardWithUpdates(second, board, "long", 10);
    const [again] = await openStore().loadAll();
    expect(again).toEqual(board.snapshot("long"));
    expect(again!.history[0]!.sequence).toBe(61n);
    expect(again!.task.sequence).toBe(260n);
    expect((await records()).size).toBe(1 + SNAPSHOT_HISTORY_LIMIT);
  });

  it("deletes a task with tombstones for all its records, after its saves in flight, in the instance that saved it or one that loaded it", async () => {
    const board = new TaskBoard();
    const store = openStore();
    await store.loadAll();
    await boardWithUpdates(store, board, "t1", 3);
    await boardWithUpdates(store, board, "t2", 2);
    await boardWithUpdates(store, board, "long", SNAPSHOT_HISTORY_LIMIT + 9); // sequences 1..210, 11..210 kept
    board.update("t1", "ExecutionProgress", () => undefined, "in flight");
    void store.save(board.snapshot("t1")!);
    await store.delete("t1");
    expect((await openStore().loadAll()).map((snapshot) => snapshot.task.taskId).sort()).toEqual(["long", "t2"]);

    const second = openStore();
    await second.loadAll();
    await second.delete("long");
    await second.delete("never-saved");
    expect((await openStore().loadAll()).map((snapshot) => snapshot.task.taskId)).toEqual(["t2"]);
    // Nothing of the deleted tasks is left to read, not even a Watch update.
    expect([...(await records()).keys()].sort()).toEqual(["task/t2", "update/t2/1", "update/t2/2", "update/t2/3"]);
  });

  it("rebuilds a restarted gateway: Get, List and Submit find the tasks, and Watch resumes from a sequence number", async () => {
    const first = await startGateway(openStore());
    const { task } = await first.tasks.submit({ spec: { inputUri: dataDir }, idempotencyKey: "job-1" });
    const { task: other } = await first.tasks.submit({ spec: { inputUri: dataDir } });
    const taskId = task!.taskId;
    await first.bus.publish("TaskPerceived", create(TaskPerceivedSchema, { envelope: envelope(taskId, 0), task: context() }));
    await first.bus.publish("CodeGenerated", create(CodeGeneratedSchema, { envelope: envelope(taskId, 1), task: context(), program }));
    await first.bus.publish(
      "ExecutionFinished",
      create(ExecutionFinishedSchema, {
        envelope: envelope(taskId, 1),
        task: context(),
        program,
        result: { exitCode: 0, iterationDir: "iter-001", duration: durationFromMs(1_000) },
      }),
    );
    await first.bus.whenIdle();
    const before = (await first.tasks.get({ taskId })).task!;
    expect(before.state).toBe(TaskState.ANALYZING);
    // Crash: nothing is stopped, nothing more is saved.

    const second = await startGateway(openStore());
    expect((await second.tasks.get({ taskId })).task).toEqual(before);
    expect((await second.tasks.list({})).tasks.map((listed) => listed.taskId)).toEqual([other!.taskId, taskId]);
    expect((await second.tasks.submit({ spec: { inputUri: dataDir }, idempotencyKey: "job-1" })).task?.taskId).toBe(taskId);

    const watching = collect(second.tasks.watch({ taskId, afterSequence: before.sequence - 1n }));
    const workspace = taskWorkspace(workspaceRoot, "default", taskId);
    await mkdir(path.join(workspace.iterationDir(1), "outputs"), { recursive: true });
    await writeFile(path.join(workspace.iterationDir(1), "outputs", "submission.csv"), "id,y\n1,a\n");
    await second.bus.publish(
      "IterationAnalyzed",
      create(IterationAnalyzedSchema, {
        envelope: envelope(taskId, 1),
        task: context(),
        program,
        analysis: create(AnalysisSchema, { verdict: Verdict.SUCCESS, summary: "valid", score: 0.9 }),
      }),
    );
    await second.bus.publish(
      "TaskFinished",
      create(TaskFinishedSchema, {
        envelope: envelope(taskId, 1),
        state: TaskState.SUCCEEDED,
        reason: "succeeded in iteration 1 with lightgbm",
        bestIteration: 1,
        bestProgram: program,
        score: 0.9,
        predictionsPath: "iter-001/outputs/submission.csv",
      }),
    );
    await second.bus.whenIdle();
    const resumed = await watching;
    // The last update before the restart (from the store), then the two after it.
    expect(resumed.map((update) => [update.sequence, update.event])).toEqual([
      [before.sequence, "ExecutionFinished"],
      [before.sequence + 1n, "IterationAnalyzed"],
      [before.sequence + 2n, "TaskFinished"],
    ]);
    const done = (await second.tasks.get({ taskId })).task!;
    expect(done.state).toBe(TaskState.SUCCEEDED);
    await second.module.stop!();

    // And once more: finished stays finished, and Watch replays every update.
    const third = await startGateway(openStore());
    expect((await third.tasks.get({ taskId })).task).toEqual(done);
    const replay = await collect(third.tasks.watch({ taskId, afterSequence: 0n }));
    expect(replay.map((update) => update.sequence)).toEqual(Array.from({ length: Number(done.sequence) }, (_, index) => BigInt(index + 1)));
  });

  it("keeps the tasks across a broker crash between the save and the load", async () => {
    const first = await startGateway(openStore());
    const { task } = await first.tasks.submit({ spec: { inputUri: dataDir } });
    const taskId = task!.taskId;
    await first.bus.publish("TaskPerceived", create(TaskPerceivedSchema, { envelope: envelope(taskId, 0), task: context() }));
    await first.bus.whenIdle();
    const before = (await first.tasks.get({ taskId })).task!;

    await broker.kill();
    await broker.restart();

    const second = await startGateway(openStore());
    expect((await second.tasks.get({ taskId })).task).toEqual(before);
    const watch = second.tasks.watch({ taskId, afterSequence: 0n })[Symbol.asyncIterator]();
    for (let sequence = 1n; sequence <= before.sequence; sequence++) expect((await watch.next()).value?.sequence).toBe(sequence);
    await watch.return?.(undefined);
    // The restarted broker takes new saves too.
    const { task: later } = await second.tasks.submit({ spec: { inputUri: dataDir } });
    const third = await startGateway(openStore());
    expect((await third.tasks.list({})).tasks.map((listed) => listed.taskId)).toEqual([later!.taskId, taskId]);
  });
});
