import { readFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { TaskService, TaskState, type Task } from "@mlzero/proto";
import { topicPartitions } from "@mlzero/bus-kafka/testing";
import { createClient } from "@mlzero/rpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cpuSecondsOf, processesUnder, SERVICE_NAMES, startKafkaCluster, type KafkaCluster } from "../support/cluster-harness.js";
import { generateChurnTask, generateHousePriceTask, generateSpeciesTask, type GeneratedTask } from "../support/generate-tasks.js";
import {
  accountFor,
  describeAccount,
  eventually,
  expectCompletedOnce,
  isFinished,
  submitTask,
  type TaskAccount,
  type TaskClient,
} from "../support/task-checks.js";

// 50 tasks submitted at once to six service processes over Kafka: every one
// completes, none is lost and none runs twice. The datasets are tiny and the
// tool light (LightGBM on a few hundred rows), so the time goes to the
// pipeline and to Python starting 50 times on two cores; the executor runs
// two programs at a time (MLZERO_EXECUTOR_CONCURRENCY) and queues the rest.

const TASKS = 50;
const PARTITIONS = 4;

let kafka: KafkaCluster | undefined;
let tasks: TaskClient | undefined;
let dataRoot: string | undefined;
const datasets: GeneratedTask[] = [];

beforeAll(async () => {
  dataRoot = await mkdtemp(path.join(os.tmpdir(), "mlzero-many-data-"));
  // Three kinds of task (binary, regression, multiclass), two seeds each.
  for (const seed of [1, 2]) {
    datasets.push(await generateChurnTask(path.join(dataRoot, `churn-${seed}`), seed, 300));
    datasets.push(await generateHousePriceTask(path.join(dataRoot, `houses-${seed}`), seed, 300));
    datasets.push(await generateSpeciesTask(path.join(dataRoot, `species-${seed}`), seed, 300));
  }
  // Two programs at a time on two cores: 50 Pythons at once only thrash.
  // Topics as a chart sized for at most 4 replicas per stage lays them out.
  const layout = { MLZERO_KAFKA_PARTITIONS: String(PARTITIONS), MLZERO_KAFKA_REPLICATION_FACTOR: "1" };
  kafka = await startKafkaCluster({
    logLevel: "warn",
    env: Object.fromEntries(
      SERVICE_NAMES.map((name) => [name, name === "executor" ? { ...layout, MLZERO_EXECUTOR_CONCURRENCY: "2" } : layout]),
    ),
  });
  tasks = createClient(TaskService, kafka.cluster.address("gateway"));
}, 150_000);

afterAll(async () => {
  tasks?.close();
  await kafka?.close();
  if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
});

/** Every task the gateway lists (one page holds them all). */
async function listAll(): Promise<Task[]> {
  const { tasks: listed, nextPageToken } = await tasks!.list({ pageSize: 500 });
  expect(nextPageToken).toBe("");
  return listed;
}

describe(`${TASKS} tasks submitted at once`, () => {
  it("all complete: none lost, none duplicated, each program run once", async () => {
    const { cluster } = kafka!;
    const started = Date.now();
    const ids = await Promise.all(
      Array.from({ length: TASKS }, (_, index) =>
        submitTask(tasks!, datasets[index % datasets.length]!.inputDir, { tool: "lightgbm", timeLimitSeconds: 600 }),
      ),
    );
    const submitted = Date.now();
    expect(new Set(ids).size).toBe(TASKS);

    let last: Task[] = [];
    await eventually(
      `${TASKS} tasks to finish`,
      async () => {
        last = await listAll();
        return last.length >= TASKS && last.every(isFinished);
      },
      // About 2 minutes on an idle 2-core machine; the margin is for a busy one.
      360_000,
      1_000,
    ).catch((error: Error) => {
      const states = Object.entries(Object.groupBy(last, (task) => TaskState[task.state])).map(
        ([state, group]) => `${state}: ${group?.length}`,
      );
      throw new Error(`${error.message}; states: ${states.join(", ")}\n${cluster.report()}`);
    });
    const finished = Date.now();
    console.info(
      `${TASKS} tasks: submitted in ${((submitted - started) / 1000).toFixed(1)} s, all finished after ${((finished - started) / 1000).toFixed(1)} s ` +
        `(${((TASKS / (finished - started)) * 60_000).toFixed(0)} tasks/min)`,
    );

    // Exactly the tasks submitted, each once, each succeeded.
    const listed = await listAll();
    expect(listed.map((task) => task.taskId).sort()).toEqual([...ids].sort());
    expect(
      listed.filter((task) => task.state !== TaskState.SUCCEEDED).map((task) => `${task.taskId}: ${TaskState[task.state]} ${task.message}`),
    ).toEqual([]);
    // The workspace holds those tasks and no other.
    const folders = (await readdir(path.join(cluster.workspaceRoot, "default"))).sort();
    expect(folders).toEqual([...ids].sort());

    // Each task's iterations ran their program exactly once, with an episode in memory.
    const accounts: TaskAccount[] = [];
    for (const taskId of ids) accounts.push(await accountFor(tasks!, cluster.address("memory"), cluster.workspaceRoot, taskId));
    for (const account of accounts) {
      // Events of different topics may reach the gateway in any order under
      // this load: every step is on record, not necessarily in loop order.
      expectCompletedOnce(account, `${describeAccount(account)}\n${cluster.report()}`, { lastStepsMayFollowFinish: true });
    }
    const launches = accounts.reduce((sum, account) => sum + [...account.launches.values()].reduce((a, b) => a + b, 0), 0);
    const iterations = accounts.reduce((sum, account) => sum + account.task.iterations.length, 0);
    expect(launches).toBe(iterations);
    const runSeconds = accounts
      .flatMap((account) => account.task.iterations.map((item) => durationMs(item.duration!) / 1000))
      .sort((a, b) => a - b);
    console.info(
      `${iterations} iterations, ${launches} launches; program wall time median ${runSeconds[Math.floor(runSeconds.length / 2)]!.toFixed(1)} s, ` +
        `max ${runSeconds.at(-1)!.toFixed(1)} s`,
    );
    for (const name of SERVICE_NAMES) expect(cluster.starts(name), name).toBe(1);
    const cpu = SERVICE_NAMES.map((name) => `${name} ${cluster.cpuSeconds(name).toFixed(1)}`).join(", ");
    const brokerPid = Number(readFileSync(path.join(kafka!.broker.dataDir, "kafka.pid"), "utf8"));
    console.info(`CPU seconds: ${cpu}; the broker ${cpuSecondsOf(brokerPid).toFixed(1)}`);
  }, 420_000);

  it("created every topic with the partitions MLZERO_KAFKA_PARTITIONS asks for", async () => {
    const partitions = await topicPartitions(kafka!.broker.brokers);
    const ours = [...partitions].filter(([topic]) => topic.startsWith("mlzero."));
    expect(ours.length).toBeGreaterThan(5);
    expect(ours.filter(([, count]) => count !== PARTITIONS)).toEqual([]);
  });

  it("leaves no program running", () => {
    expect(processesUnder(kafka!.cluster.workspaceRoot)).toEqual([]);
  });
});
