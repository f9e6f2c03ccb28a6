import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { EVENT_TYPES, newEnvelope, type Delivery, type EventBus } from "@mlzero/bus";
import { createSilentLogger } from "@mlzero/logging";
import { TaskCancelRequestedSchema, type TaskCancelRequested } from "@mlzero/proto";
import { Kafka, logLevel, Partitioners, type Admin } from "kafkajs";
import { inSpan, metricsText, parseMetrics, startTracing, traceIdOf } from "@mlzero/telemetry";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startKafkaBroker, type KafkaBroker } from "./kafka-broker.js";
import { createKafkaBus, type KafkaBusOptions } from "./kafka-bus.js";
import { EVENT_HEADERS } from "./kafka-headers.js";

const TOPIC = EVENT_TYPES.TaskCancelRequested.topic;

let broker: KafkaBroker;
let admin: Admin;
const buses: EventBus[] = [];
let run: string;

beforeAll(async () => {
  broker = await startKafkaBroker();
  admin = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
});
afterAll(async () => {
  await admin?.disconnect();
  await broker?.stop();
});
beforeEach(() => {
  run = `kafka-${randomUUID().slice(0, 8)}`;
});
afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
});

async function openBus(options: Partial<KafkaBusOptions> = {}): Promise<EventBus> {
  const bus = await createKafkaBus({
    brokers: broker.brokers,
    clientId: "adapter-test",
    logger: createSilentLogger(),
    partitions: 4,
    maxAttempts: 3,
    retryBackoffMs: 10,
    sessionTimeoutMs: 6_000,
    ...options,
  });
  buses.push(bus);
  return bus;
}

function cancel(taskId: string, reason: string): TaskCancelRequested {
  return create(TaskCancelRequestedSchema, { envelope: newEnvelope({ taskId, tenant: "t", iteration: 0 }), reason });
}

const mine = (message: TaskCancelRequested) => message.envelope!.taskId.startsWith(run);

async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Records in the topic: the sum of its partitions' end offsets. */
async function topicSize(): Promise<bigint> {
  const offsets = await admin.fetchTopicOffsets(TOPIC);
  return offsets.reduce((sum, partition) => sum + BigInt(partition.high), 0n);
}

describe("Kafka bus", () => {
  it("writes the publishing span's W3C trace context as record headers, and reports each group's lag", async () => {
    const tracing = startTracing({ serviceName: "adapter-test" });
    try {
      const bus = await openBus();
      const key = `${run}-traced`;
      const handled: string[] = [];
      await bus.subscribe({
        group: `${run}-lag`,
        handlers: { TaskCancelRequested: async (message) => void (mine(message) && handled.push(message.envelope!.trace!.traceparent)) },
      });
      const traceId = await inSpan("publisher", {}, async (span) => {
        await bus.publish("TaskCancelRequested", cancel(key, "traced"));
        return span.traceId;
      });
      await eventually("the traced event", () => handled.length >= 1);
      expect(traceIdOf(handled[0])).toBe(traceId);

      const headers: Record<string, string>[] = [];
      const raw = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).consumer({ groupId: `${run}-raw` });
      await raw.connect();
      await raw.subscribe({ topic: TOPIC, fromBeginning: true });
      await raw.run({
        eachMessage: async ({ message }) => {
          if (message.key?.toString() !== key) return;
          headers.push(Object.fromEntries(Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)])));
        },
      });
      try {
        await eventually("the raw record", () => headers.length >= 1);
      } finally {
        await raw.disconnect();
      }
      expect(headers[0]![EVENT_HEADERS.traceparent]).toBe(handled[0]);
      expect(traceIdOf(headers[0]![EVENT_HEADERS.traceparent])).toBe(traceId);

      const lag = parseMetrics(await metricsText()).samples.filter(
        (sample) => sample.name === "mlzero_bus_consumer_lag" && sample.labels.group === `${run}-lag`,
      );
      expect(lag.map((sample) => [sample.labels.topic, sample.value])).toEqual([[TOPIC, 0]]);
    } finally {
      await tracing.shutdown();
    }
  });

  it("sends undecodable bytes straight to the dead letters, with the reason and the original bytes, and the partition flows on", async () => {
    const bus = await openBus();
    const key = `${run}-poison`;
    const poison = Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x6e, 0x6f, 0x74]);
    const raw = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).producer({
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await raw.connect();
    await raw.send({ topic: TOPIC, messages: [{ key, value: poison, headers: { [EVENT_HEADERS.eventType]: "TaskCancelRequested" } }] });
    await raw.disconnect();
    await bus.publish("TaskCancelRequested", cancel(key, "after"));

    const handled: { reason: string; delivery: Delivery }[] = [];
    await bus.subscribe({
      group: `${run}-g`,
      handlers: {
        TaskCancelRequested: async (message, delivery) => void (mine(message) && handled.push({ reason: message.reason, delivery })),
      },
    });
    await eventually("the event after the poison one", () => handled.length >= 1);
    expect(handled.map((entry) => entry.reason)).toEqual(["after"]);

    let letters: Awaited<ReturnType<EventBus["readDeadLetters"]>> = [];
    await eventually("the dead letter", async () => {
      letters = (await bus.readDeadLetters()).filter((letter) => letter.key === key);
      return letters.length > 0;
    });
    expect(letters).toHaveLength(1);
    const after = handled[0]!.delivery;
    expect(letters[0]).toMatchObject({
      group: `${run}-g`,
      topic: TOPIC,
      partition: after.partition,
      offset: after.offset - 1,
      reason: "undecodable",
      attempts: 0,
      eventId: undefined,
    });
    expect(letters[0]!.error).toMatch(/not a TaskCancelRequested/);
    expect(Buffer.from(letters[0]!.value)).toEqual(poison);
  });

  it("delivers an event again to the next member when a member is killed mid-handler (commit after effect)", async () => {
    const bus = await openBus();
    const group = `${run}-crash`;
    await bus.publish("TaskCancelRequested", cancel(`${run}-task`, "work"));
    const child = spawnHandler(group);
    try {
      await waitForLine(child, "handling work");
    } finally {
      child.kill("SIGKILL");
    }
    const handled: Delivery[] = [];
    // The killed member holds the partition until its session (6 s) expires.
    await bus.subscribe({
      group,
      handlers: { TaskCancelRequested: async (message, delivery) => void (mine(message) && handled.push(delivery)) },
    });
    await eventually("the redelivered event", () => handled.length >= 1);
    expect(handled[0]!.attempt).toBe(1);
  }, 60_000);

  it("keeps a member that handles one event for longer than its session timeout", async () => {
    // Two processes' worth of members (two buses, each with its own memory of
    // handled ids): had the busy member been dropped from the group for
    // silence, its partitions would move to the other member and the event
    // would be handled twice.
    const calls: string[] = [];
    const slow = async (message: TaskCancelRequested) => {
      if (!mine(message)) return;
      calls.push(message.reason);
      await sleep(8_000);
    };
    for (const bus of [await openBus(), await openBus()]) {
      await bus.subscribe({ group: `${run}-slow`, handlers: { TaskCancelRequested: slow } });
    }
    await buses[0]!.publish("TaskCancelRequested", cancel(`${run}-task`, "slow"));
    await eventually("the slow event", () => calls.length >= 1);
    await sleep(10_000);
    expect(calls).toEqual(["slow"]);
  }, 60_000);

  it("delivers 500 concurrent publishes exactly once each (sends serialised per producer)", async () => {
    const bus = await openBus();
    const before = await topicSize();
    const sent = Array.from({ length: 500 }, (_, index) => cancel(`${run}-task-${index % 50}`, String(index)));
    await Promise.all(sent.map((message) => bus.publish("TaskCancelRequested", message)));
    // Exactly once in the log: neither lost nor written twice by a retry.
    expect((await topicSize()) - before).toBe(500n);

    const received: string[] = [];
    await bus.subscribe({
      group: `${run}-many`,
      handlers: { TaskCancelRequested: async (message) => void (mine(message) && received.push(message.envelope!.eventId)) },
    });
    await eventually("500 events", () => received.length >= 500);
    await sleep(500);
    expect(received).toHaveLength(500);
    expect(new Set(received)).toEqual(new Set(sent.map((message) => message.envelope!.eventId)));
  });

  it("rides out a broker restart: what is published while it is down arrives once it is back", async () => {
    const bus = await openBus();
    const received: string[] = [];
    await bus.subscribe({
      group: `${run}-restart`,
      handlers: { TaskCancelRequested: async (message) => void (mine(message) && received.push(message.reason)) },
    });
    await bus.publish("TaskCancelRequested", cancel(`${run}-task`, "before"));
    await eventually("the event before the restart", () => received.length >= 1);
    await broker.kill();
    const during = bus.publish("TaskCancelRequested", cancel(`${run}-task`, "during"));
    await broker.restart();
    await during;
    await bus.publish("TaskCancelRequested", cancel(`${run}-task`, "after"));
    await eventually("the events after the restart", () => received.length >= 3, 45_000);
    expect(received).toEqual(["before", "during", "after"]);
  }, 80_000);
});

/** The fixture that joins `group` and hangs in its handler, as its own process. */
function spawnHandler(group: string): ChildProcess {
  const script = fileURLToPath(new URL("../dist/fixtures/handle-until-killed.js", import.meta.url));
  return spawn(process.execPath, [script], {
    env: { ...process.env, BROKERS: broker.brokers.join(","), GROUP: group, PREFIX: run },
    stdio: ["ignore", "pipe", "inherit"],
  });
}

function waitForLine(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.split("\n").includes(line)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`the fixture exited (${code}) before printing "${line}"`)));
  });
}
