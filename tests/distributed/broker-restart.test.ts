import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { TaskService, TaskState } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processesUnder, startKafkaCluster, type KafkaCluster } from "../support/cluster-harness.js";
import { generateChurnTask, type GeneratedTask } from "../support/generate-tasks.js";
import {
  accountFor,
  describeAccount,
  eventually,
  expectCompletedOnce,
  programEnded,
  submitTask,
  waitFinished,
  waitProgramRunning,
  type TaskClient,
} from "../support/task-checks.js";

// The Kafka broker dies (kill -9) in the middle of a task and comes back on
// the same port and data: every service rides it out (their publishes and
// consumers retry), and the task completes with its program run once.

let kafka: KafkaCluster | undefined;
let tasks: TaskClient | undefined;
let dataRoot: string | undefined;
let data: GeneratedTask;

beforeAll(async () => {
  dataRoot = await mkdtemp(path.join(os.tmpdir(), "mlzero-broker-data-"));
  data = await generateChurnTask(dataRoot, 7, 2000);
  kafka = await startKafkaCluster();
  tasks = createClient(TaskService, kafka.cluster.address("gateway"));
}, 150_000);

afterAll(async () => {
  tasks?.close();
  await kafka?.close();
  if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
});

describe("a broker restart in the middle of a task", () => {
  it("kill -9 of the broker while the program runs, back after it ended: the task completes", async () => {
    const { broker, cluster } = kafka!;
    const started = Date.now();
    const taskId = await submitTask(tasks!, data.inputDir, { tool: "lightgbm", timeLimitSeconds: 300 });
    await waitProgramRunning(cluster.workspaceRoot, taskId);
    await broker.kill();
    // The program's result has nowhere to go until the broker is back.
    await eventually("the program to end while the broker is down", () => programEnded(cluster.workspaceRoot, taskId), 60_000);
    const down = Date.now();
    await broker.restart();
    console.info(`broker down for ${((Date.now() - down) / 1000).toFixed(1)} s after the program ended`);

    const task = await waitFinished(tasks!, taskId, 150_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${cluster.report()}`);
    });
    const account = await accountFor(tasks!, cluster.address("memory"), cluster.workspaceRoot, taskId);
    const explain = `${describeAccount(account)}\n${cluster.report()}`;
    console.info(`broker restart: ${((Date.now() - started) / 1000).toFixed(1)} s to ${TaskState[task.state]}`);
    expectCompletedOnce(account, explain);
    // Every service lived through it: none was restarted.
    for (const name of ["gateway", "perception", "memory", "coder", "executor", "analyzer"] as const) {
      expect(cluster.starts(name), name).toBe(1);
      expect(cluster.isRunning(name), name).toBe(true);
    }
  }, 240_000);

  it("a task submitted right after the broker came back completes too", async () => {
    const { cluster } = kafka!;
    const taskId = await submitTask(tasks!, data.inputDir, { tool: "lightgbm", timeLimitSeconds: 300 });
    await waitFinished(tasks!, taskId, 90_000);
    const account = await accountFor(tasks!, cluster.address("memory"), cluster.workspaceRoot, taskId);
    expectCompletedOnce(account, `${describeAccount(account)}\n${cluster.report()}`);
  }, 120_000);

  it("leaves no program running", () => {
    expect(processesUnder(kafka!.cluster.workspaceRoot)).toEqual([]);
  });
});
