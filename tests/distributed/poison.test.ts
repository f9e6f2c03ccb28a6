import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createKafkaBus } from "@mlzero/bus-kafka";
import { publishRaw, type RawEventPlacement } from "@mlzero/bus-kafka/testing";
import { createSilentLogger } from "@mlzero/logging";
import { TaskService } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processesUnder, startKafkaCluster, type KafkaCluster } from "../support/cluster-harness.js";
import { generateChurnTask, type GeneratedTask } from "../support/generate-tasks.js";
import { startTcpGate, type TcpGate } from "../support/tcp-gate.js";
import {
  accountFor,
  describeAccount,
  eventually,
  expectCompletedOnce,
  submitTask,
  waitFinished,
  type TaskClient,
} from "../support/task-checks.js";

// Undecodable records on a pipeline topic go to the dead letters with their
// reason, once per consumer group, and the tasks behind them on the same
// partition flow on to completion.
//
// The poison must sit ahead of a task's own event on the same partition.
// Records are partitioned by key, so a poison keyed by a task's id lands on
// that task's partition; it is written while perception is held inside its
// handler (its memory lookups go through a held TCP gate), so it lands
// before the task's TaskPerceived, which the analyzer and the gateway then can
// only reach by passing it.

let kafka: KafkaCluster | undefined;
let tasks: TaskClient | undefined;
let dataRoot: string | undefined;
let data: GeneratedTask;
let gate: TcpGate | undefined;

beforeAll(async () => {
  dataRoot = await mkdtemp(path.join(os.tmpdir(), "mlzero-poison-data-"));
  data = await generateChurnTask(dataRoot, 7, 600);
  gate = await startTcpGate(() => kafka!.cluster.address("memory"));
  kafka = await startKafkaCluster({ env: { perception: { MLZERO_MEMORY_ADDRESS: gate.address } } });
  tasks = createClient(TaskService, kafka.cluster.address("gateway"));
}, 150_000);

afterAll(async () => {
  tasks?.close();
  await kafka?.close();
  await gate?.close();
  if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
});

describe("poison messages on a pipeline topic", () => {
  it("go to the dead letters with their reason, and the tasks behind them on their partitions complete", async () => {
    const { cluster } = kafka!;
    const poisons: { taskId: string; placement: RawEventPlacement; value: Uint8Array }[] = [];
    gate!.hold();
    try {
      for (const value of [
        // Not protobuf at all: a varint that never ends.
        Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        // Valid protobuf (an unknown field), but no envelope: no event of the topic's type.
        Uint8Array.from([0xf8, 0x07, 0x01]),
      ]) {
        const taskId = await submitTask(tasks!, data.inputDir, { tool: "lightgbm", timeLimitSeconds: 300 });
        const [placement] = await publishRaw(cluster.brokers, [{ event: "TaskPerceived", key: taskId, value }]);
        poisons.push({ taskId, placement: placement!, value });
      }
    } finally {
      gate!.release();
    }

    for (const { taskId } of poisons) {
      await waitFinished(tasks!, taskId, 90_000).catch((error: Error) => {
        throw new Error(`${error.message}\n${cluster.report()}`);
      });
      const account = await accountFor(tasks!, cluster.address("memory"), cluster.workspaceRoot, taskId);
      expectCompletedOnce(account, `${describeAccount(account)}\n${cluster.report()}`);
    }

    // Each group that reads the topic (analyzer, gateway) dead-lettered each poison once, at once, with the reason.
    const bus = await createKafkaBus({ brokers: cluster.brokers, clientId: "poison-test", logger: createSilentLogger() });
    try {
      const letters = await eventually(
        "the dead letters of both groups",
        async () => {
          const found = await bus.readDeadLetters();
          return found.length >= 2 * poisons.length ? found : undefined;
        },
        30_000,
        500,
      );
      const describe = (letter: (typeof letters)[number]) =>
        `${letter.group} ${letter.topic}/${letter.partition}@${letter.offset} key=${letter.key} ${letter.reason}: ${letter.error}`;
      expect(letters.map(describe).sort()).toHaveLength(2 * poisons.length);
      for (const { taskId, placement, value } of poisons) {
        const mine = letters.filter((letter) => letter.key === taskId);
        expect(mine.map((letter) => letter.group).sort(), letters.map(describe).join("\n")).toEqual(["analyzer", "gateway"]);
        for (const letter of mine) {
          expect(letter).toMatchObject({
            topic: placement.topic,
            partition: placement.partition,
            offset: placement.offset,
            reason: "undecodable",
            attempts: 0,
          });
          expect(letter.error).toMatch(/TaskPerceived/);
          expect(Buffer.from(letter.value)).toEqual(Buffer.from(value));
        }
      }
    } finally {
      await bus.close();
    }
    // The services logged the poison and kept running.
    for (const name of ["analyzer", "gateway"] as const) {
      expect(cluster.starts(name)).toBe(1);
      expect(
        cluster.errorLines(name).some((line) => line.includes("event sent to dead letters")),
        cluster.report(),
      ).toBe(true);
    }
  }, 150_000);

  it("leaves no program running", () => {
    expect(processesUnder(kafka!.cluster.workspaceRoot)).toEqual([]);
  });
});
