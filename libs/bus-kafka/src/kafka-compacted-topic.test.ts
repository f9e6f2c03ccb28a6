import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { createSilentLogger } from "@mlzero/logging";
import { ConfigResourceTypes, Kafka, logLevel, type Admin } from "kafkajs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startKafkaBroker, type KafkaBroker } from "./kafka-broker.js";
import { readTopicToEnd } from "./read-to-end.js";
import { createKafkaCompactedTopic, type CompactedTopic, type KafkaCompactedTopicOptions } from "./kafka-compacted-topic.js";

let broker: KafkaBroker;
let kafka: Kafka;
let admin: Admin;
const opened: CompactedTopic[] = [];

beforeAll(async () => {
  broker = await startKafkaBroker();
  kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
});
afterAll(async () => {
  await admin?.disconnect();
  await broker?.stop();
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

/** A store on its own topic, per test, unless one is named (a "restart" opens the same topic again). */
function open(topic = `state-${randomUUID().slice(0, 8)}`, options: Partial<KafkaCompactedTopicOptions> = {}) {
  const store = createKafkaCompactedTopic({
    brokers: broker.brokers,
    clientId: "compacted-test",
    logger: createSilentLogger(),
    topic,
    partitions: 4,
    ...options,
  });
  opened.push(store);
  return { store, topic };
}

const text = (values: Map<string, Buffer>) => Object.fromEntries([...values].map(([key, value]) => [key, value.toString()]));

describe("Kafka compacted topic", () => {
  it("creates a compacted topic and reads an empty one at once", async () => {
    const { store, topic } = open(undefined, { partitions: 3 });
    const started = Date.now();
    expect(await store.readAll()).toEqual(new Map());
    expect(Date.now() - started).toBeLessThan(15_000); // no consumer group to join

    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(topics[0]!.partitions).toHaveLength(3);
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ["cleanup.policy", "min.compaction.lag.ms"] }],
    });
    const configs = Object.fromEntries(resources[0]!.configEntries.map((entry) => [entry.configName, entry.configValue]));
    expect(configs).toEqual({ "cleanup.policy": "compact", "min.compaction.lag.ms": "0" });
  });

  it("keeps the latest value of every key, forgets a deleted key, and a second store reads what the first wrote", async () => {
    const { store, topic } = open();
    await store.write("a", [{ key: "a", value: "1" }]);
    await store.write("b", [{ key: "b", value: Buffer.from("bytes") }]);
    // Concurrent writes of many keys, some written twice: the later write of a key wins.
    await Promise.all(Array.from({ length: 50 }, (_, index) => store.write(`k${index}`, [{ key: `k${index}`, value: `v${index}` }])));
    await Promise.all(
      Array.from({ length: 50 }, (_, index) => index % 2 === 0 && store.write(`k${index}`, [{ key: `k${index}`, value: `w${index}` }])),
    );
    await store.write("a", [{ key: "a", value: "2" }]);
    await store.write("b", [{ key: "b", value: undefined }]);

    const expected: Record<string, string> = { a: "2" };
    for (let index = 0; index < 50; index++) expected[`k${index}`] = index % 2 === 0 ? `w${index}` : `v${index}`;
    expect(text(await store.readAll())).toEqual(expected);
    const { store: again } = open(topic);
    expect(text(await again.readAll())).toEqual(expected);
  });

  it("puts the records of one write in the partition of its partition key, in order", async () => {
    const { store, topic } = open(undefined, { partitions: 4 });
    await store.write("task-1", [
      { key: "task-1/1", value: "u1" },
      { key: "task-1/2", value: "u2" },
      { key: "task-1", value: "head" },
    ]);
    await store.write("task-1", [
      { key: "task-1/1", value: undefined },
      { key: "task-1/3", value: "u3" },
      { key: "task-1", value: "head 2" },
    ]);
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets.map((partition) => Number(partition.high)).sort()).toEqual([0, 0, 0, 6]);
    expect(text(await store.readAll())).toEqual({ "task-1/2": "u2", "task-1/3": "u3", "task-1": "head 2" });
  });

  it("keeps what it wrote across a broker crash, and writes again once the broker is back", async () => {
    const { store, topic } = open();
    await store.write("x", [{ key: "x", value: "before" }]);
    await broker.kill();
    await broker.restart();
    const { store: reopened } = open(topic);
    expect(text(await reopened.readAll())).toEqual({ x: "before" });
    // The first store's producer reconnects by itself.
    await store.write("y", [{ key: "y", value: "after" }]);
    expect(text(await reopened.readAll())).toEqual({ x: "before", y: "after" });
  });

  it("reads the latest values once the broker has compacted the topic", async () => {
    // Segments that close after 100 ms, so the log cleaner (every 15 s at most) has something to compact.
    const { store, topic } = open(undefined, { partitions: 1, segmentMs: 100 });
    for (let round = 0; round < 12; round++) {
      await store.write("k", [
        { key: `k${round % 3}`, value: `v${round}` },
        { key: "gone", value: round % 2 === 0 ? "back" : undefined },
      ]);
      await sleep(120);
    }
    const expected = { k0: "v9", k1: "v10", k2: "v11" };
    let kept = 0;
    const deadline = Date.now() + 40_000;
    do {
      await sleep(500);
      kept = 0;
      await readTopicToEnd({ kafka, admin, topic, groupPrefix: "count", eachMessage: () => void kept++ });
    } while (kept === 24 && Date.now() < deadline);
    expect(kept).toBeLessThan(24);
    expect(text(await store.readAll())).toEqual(expected);
  });

  it("refuses calls once closed", async () => {
    const { store } = open();
    await store.close();
    await expect(store.write("a", [{ key: "a", value: "1" }])).rejects.toMatchObject({ kind: "failed_precondition" });
  });
});
