import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { FailureCategory, TaskService, TaskState } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processesUnder, startKafkaCluster, type KafkaCluster, type ServiceName } from "../support/cluster-harness.js";
import { generateChurnTask, type GeneratedTask } from "../support/generate-tasks.js";
import { startTcpGate, type TcpGate } from "../support/tcp-gate.js";
import {
  accountFor,
  describeAccount,
  eventually,
  expectCompletedOnce,
  programEnded,
  submitTask,
  waitFinished,
  waitProgramRunning,
  waitTask,
  type CompletedOnceOptions,
  type TaskAccount,
  type TaskClient,
} from "../support/task-checks.js";

// kill -9 each service in turn in the middle of a task, restart it, and the
// task still completes, with each iteration's program launched exactly once
// and every event on record (Get, Watch replay, memory's episodes).
//
// Where a kill lands matters, so each case makes it land somewhere known:
// - perception and coder handle their event in milliseconds, but each asks
//   memory over gRPC inside its handler. Their memory address is a TCP gate
//   (tests/support/tcp-gate.ts): held, it keeps the call back, so the
//   service is inside its handler, its event not yet committed, when killed.
// - executor, analyzer and gateway are killed while the program runs (its
//   launches.log line is written and it has not exited): the executor mid-run
//   (the restarted one adopts the run), the analyzer and gateway so that the
//   program's result is published while they are down.

let kafka: KafkaCluster | undefined;
let tasks: TaskClient | undefined;
let dataRoot: string | undefined;
let data: GeneratedTask;
const gates = {} as Record<"perception" | "coder", TcpGate>;

beforeAll(async () => {
  dataRoot = await mkdtemp(path.join(os.tmpdir(), "mlzero-crash-data-"));
  // About 2 s of LightGBM (most of it Python's imports) on an idle machine.
  data = await generateChurnTask(dataRoot, 7, 2000);
  for (const name of ["perception", "coder"] as const) gates[name] = await startTcpGate(() => kafka!.cluster.address("memory"));
  kafka = await startKafkaCluster({
    env: {
      perception: { MLZERO_MEMORY_ADDRESS: gates.perception.address },
      coder: { MLZERO_MEMORY_ADDRESS: gates.coder.address },
    },
  });
  tasks = createClient(TaskService, kafka.cluster.address("gateway"));
}, 150_000);

afterAll(async () => {
  tasks?.close();
  await kafka?.close();
  await Promise.all(Object.values(gates).map((gate) => gate.close()));
  if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
});

const programRunning = (taskId: string) => waitProgramRunning(kafka!.cluster.workspaceRoot, taskId);
const stillRunning = (taskId: string) => !programEnded(kafka!.cluster.workspaceRoot, taskId);

/** Runs one task through `crash` (which kills and restarts a service) and checks it completed with nothing lost or repeated. */
async function crashCase(
  victim: ServiceName,
  crash: (taskId: string) => Promise<void>,
  options: CompletedOnceOptions = {},
): Promise<TaskAccount> {
  const { cluster } = kafka!;
  const starts = cluster.starts(victim);
  const started = Date.now();
  const taskId = await submitTask(tasks!, data.inputDir, { tool: "lightgbm", timeLimitSeconds: 300 });
  await crash(taskId);
  expect(cluster.starts(victim), `${victim} was restarted`).toBe(starts + 1);
  const task = await waitFinished(tasks!, taskId, 120_000).catch((error: Error) => {
    throw new Error(`${error.message}\n${cluster.report()}`);
  });
  const account = await accountFor(tasks!, cluster.address("memory"), cluster.workspaceRoot, taskId);
  const explain = `${describeAccount(account)}\n${cluster.report()}`;
  console.info(`crash of ${victim}: ${((Date.now() - started) / 1000).toFixed(1)} s to ${TaskState[task.state]}`);

  expectCompletedOnce(account, explain, options);
  return account;
}

describe("kill -9 of each service in the middle of a task", () => {
  it("perception, inside its handler while it perceives the task", async () => {
    const { cluster } = kafka!;
    await crashCase("perception", async (taskId) => {
      gates.perception.hold();
      try {
        // Perception asks memory for the tools while it perceives: it is in its TaskSubmitted handler.
        await eventually("perception to ask memory for the tools", () => gates.perception.heldBytes() > 0, 60_000, 20);
        const before = await tasks!.get({ taskId });
        expect(before.task?.state).toBeLessThanOrEqual(TaskState.PERCEIVING);
        await cluster.kill("perception");
      } finally {
        gates.perception.release();
      }
      await cluster.start("perception");
    });
  }, 150_000);

  it("coder, inside its handler while it writes the program", async () => {
    const { cluster } = kafka!;
    await crashCase("coder", async (taskId) => {
      gates.coder.hold();
      try {
        // The coder retrieves the template from memory while it writes iteration 1's program.
        await eventually("the coder to ask memory for a template", () => gates.coder.heldBytes() > 0, 60_000, 20);
        const before = await tasks!.get({ taskId });
        expect(before.task?.state).toBeLessThanOrEqual(TaskState.CODING);
        await cluster.kill("coder");
      } finally {
        gates.coder.release();
      }
      await cluster.start("coder");
    });
  }, 150_000);

  it("executor, while the program runs", async () => {
    const { cluster } = kafka!;
    await crashCase("executor", async (taskId) => {
      await programRunning(taskId);
      await cluster.kill("executor");
      // The program outlives its executor (its own session): the new one adopts it.
      expect(stillRunning(taskId), "the program ended before the executor was killed").toBe(true);
      await cluster.start("executor");
    });
    expect(cluster.logTail("executor", 400)).toContain("took over a run left by a previous executor");
  }, 150_000);

  it("executor and its program together, as when their machine fails: that iteration alone runs again", async () => {
    const { cluster } = kafka!;
    const account = await crashCase(
      "executor",
      async (taskId) => {
        await programRunning(taskId);
        const running = processesUnder(path.join(cluster.workspaceRoot, "default", taskId));
        expect(running.length, "the program's processes").toBeGreaterThan(0);
        await cluster.kill("executor");
        for (const pid of running) process.kill(pid, "SIGKILL");
        await eventually("the program to be gone", () => processesUnder(path.join(cluster.workspaceRoot, "default", taskId)).length === 0);
        await cluster.start("executor");
      },
      { relaunched: 1 },
    );
    // The relaunch's result is the one analysed: no failure for the lost run.
    expect(account.task.iterations[0]).toMatchObject({ iteration: 1, failure: FailureCategory.NONE });
    expect(cluster.logTail("executor", 400)).toContain("launched again in its iteration folder");
  }, 150_000);

  it("analyzer, so that the program's result is published while it is down", async () => {
    const { cluster } = kafka!;
    await crashCase("analyzer", async (taskId) => {
      await programRunning(taskId);
      await cluster.kill("analyzer");
      // The gateway saw ExecutionFinished: it is in Kafka, waiting for an analyzer.
      await waitTask(tasks!, taskId, "the program's result", (task) => task.state === TaskState.ANALYZING, 60_000);
      await cluster.start("analyzer");
    });
  }, 150_000);

  it("gateway (task state on the compacted topic), while the program runs, and back after it ended", async () => {
    const { cluster } = kafka!;
    await crashCase("gateway", async (taskId) => {
      await programRunning(taskId);
      await cluster.kill("gateway");
      await eventually("the program to end while the gateway is down", () => !stillRunning(taskId), 60_000);
      await cluster.start("gateway");
    });
  }, 150_000);

  it("gateway (task state in files, as make up keeps it), while the program runs, and back after it ended", async () => {
    const { cluster } = kafka!;
    cluster.setEnv("gateway", { MLZERO_GATEWAY_STATE: "file" });
    await cluster.stop("gateway");
    await cluster.start("gateway");
    await crashCase("gateway", async (taskId) => {
      await programRunning(taskId);
      await cluster.kill("gateway");
      await eventually("the program to end while the gateway is down", () => !stillRunning(taskId), 60_000);
      await cluster.start("gateway");
    });
  }, 150_000);

  it("leaves no program running", () => {
    expect(processesUnder(kafka!.cluster.workspaceRoot)).toEqual([]);
  });
});
