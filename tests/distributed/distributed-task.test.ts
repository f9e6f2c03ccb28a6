import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { TaskService, TaskState } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processesUnder, SERVICE_NAMES, startKafkaCluster, type KafkaCluster } from "../support/cluster-harness.js";
import { generateChurnTask, type GeneratedTask } from "../support/generate-tasks.js";
import { readPredictions } from "../support/read-predictions.js";
import { accountFor, describeAccount, expectCompletedOnce, submitTask, waitFinished, type TaskClient } from "../support/task-checks.js";

// One task submitted over gRPC to the gateway, carried by Kafka through six
// separate service processes to its predictions.

let kafka: KafkaCluster | undefined;
let tasks: TaskClient | undefined;
let dataRoot: string | undefined;
let data: GeneratedTask;

beforeAll(async () => {
  dataRoot = await mkdtemp(path.join(os.tmpdir(), "mlzero-dist-data-"));
  data = await generateChurnTask(dataRoot, 7, 600);
  kafka = await startKafkaCluster();
  tasks = createClient(TaskService, kafka.cluster.address("gateway"));
}, 150_000);

afterAll(async () => {
  tasks?.close();
  await kafka?.close();
  if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
});

describe("a task across six processes over Kafka", () => {
  it("completes, writes its predictions, and runs its one program once", async () => {
    const { cluster } = kafka!;
    // Six processes, six ports: nothing shared but the broker and the workspace.
    expect(new Set(SERVICE_NAMES.map((name) => cluster.pid(name))).size).toBe(6);

    const started = Date.now();
    const taskId = await submitTask(tasks!, data.inputDir, { tool: "lightgbm", timeLimitSeconds: 300 });
    const task = await waitFinished(tasks!, taskId, 90_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${cluster.report()}`);
    });
    const account = await accountFor(tasks!, cluster.address("memory"), cluster.workspaceRoot, taskId);
    const explain = `${describeAccount(account)}\n${cluster.report()}`;
    console.info(`distributed task: ${((Date.now() - started) / 1000).toFixed(1)} s to ${TaskState[task.state]}`);

    expect(task.state, explain).toBe(TaskState.SUCCEEDED);
    expect(task.tool).toBe("lightgbm");
    expect(
      task.iterations.map((item) => item.iteration),
      explain,
    ).toEqual([1]);
    // The predictions the gateway wrote, one per test row.
    const predictions = path.join(task.outputDir, task.predictionsFile);
    expect(existsSync(predictions), predictions).toBe(true);
    const byId = await readPredictions(predictions, data.idColumn, data.labelColumn);
    expect(new Set(byId.keys())).toEqual(new Set(data.answers.keys()));

    // The one program ran once, and every event reached the gateway's record.
    expectCompletedOnce(account, explain);
    expect(Object.fromEntries(account.launches), explain).toEqual({ 1: 1 });
    // Submit's own record, then the gateway's TaskSubmitted heard back from Kafka.
    expect(
      account.events.filter((name) => name === "TaskSubmitted"),
      explain,
    ).toHaveLength(2);
    for (const name of SERVICE_NAMES) expect(cluster.errorLines(name), name).toEqual([]);
  }, 120_000);

  it("leaves no program running", () => {
    expect(processesUnder(kafka!.cluster.workspaceRoot)).toEqual([]);
  });
});
