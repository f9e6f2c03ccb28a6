import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { create, fromBinary } from "@bufbuild/protobuf";
import { TaskCancelRequestedSchema, TraceContextSchema, type TaskCancelRequested, type TraceContext } from "@mlzero/proto";
import { afterEach, describe, expect, it } from "vitest";
import { newEnvelope } from "./envelope.js";
import type { Delivery, EventBus, Subscription } from "./event-bus.js";
import { EVENT_TYPES } from "./event-types.js";

/** What the contract asks of every bus it builds: few, short retries keep the suite fast. */
export interface ContractBusOptions {
  maxAttempts: number;
  retryBackoffMs: number;
}

/** Options for {@link describeEventBusContract}. */
export interface EventBusContractOptions {
  /** How long to wait for an expected delivery (a broker needs seconds to rebalance a group). */
  deliveryTimeoutMs?: number;
  /** How long to watch for a delivery that must not come. */
  quietMs?: number;
}

const CONTRACT_BUS: ContractBusOptions = { maxAttempts: 3, retryBackoffMs: 10 };

/**
 * The behaviour every EventBus implementation shares, so the pipeline runs
 * the same on the in-process bus and on Kafka. Written for an asynchronous
 * broker: it waits for expected deliveries with a timeout and never assumes a
 * fresh broker. `makeBus` builds a new client per test (topics need at least
 * two partitions); events left by earlier tests stay on the topics, so each
 * test tells its own events apart by a task-id prefix and uses its own groups.
 */
export function describeEventBusContract(
  name: string,
  makeBus: (options: ContractBusOptions) => Promise<EventBus>,
  options: EventBusContractOptions = {},
): void {
  const deliveryTimeoutMs = options.deliveryTimeoutMs ?? 5_000;
  const quietMs = options.quietMs ?? 100;

  describe(`EventBus contract: ${name}`, () => {
    let bus: EventBus;
    let run: string;

    afterEach(async () => {
      await bus?.close();
    });

    /** A fresh bus and a prefix that marks this test's tasks and groups. */
    async function setUp(): Promise<void> {
      bus = await makeBus(CONTRACT_BUS);
      run = `contract-${randomUUID().slice(0, 8)}`;
    }

    const task = (id: string | number) => `${run}-task-${id}`;
    const group = (id: string) => `${run}-${id}`;
    const mine = (message: TaskCancelRequested) => message.envelope!.taskId.startsWith(`${run}-`);

    function cancel(taskId: string, reason: string, trace?: TraceContext): TaskCancelRequested {
      return create(TaskCancelRequestedSchema, { envelope: newEnvelope({ taskId, tenant: "t", iteration: 0, trace }), reason });
    }

    async function eventually(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
      const deadline = Date.now() + deliveryTimeoutMs;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`timed out after ${deliveryTimeoutMs} ms waiting for ${what}`);
        await sleep(20);
      }
    }

    /** Subscribes `groupName` to cancel events of this test, recording each reason. */
    async function record(
      target: EventBus,
      groupName: string,
      seen: string[],
      onEvent?: (message: TaskCancelRequested, delivery: Delivery) => Promise<void>,
    ): Promise<Subscription> {
      return target.subscribe({
        group: groupName,
        handlers: {
          TaskCancelRequested: async (message, delivery) => {
            if (!mine(message)) return;
            await onEvent?.(message, delivery);
            seen.push(message.reason);
          },
        },
      });
    }

    it("delivers every event to every group, in order per task", async () => {
      await setUp();
      const seen: Record<string, string[]> = { a: [], b: [] };
      for (const id of ["a", "b"]) {
        await bus.subscribe({
          group: group(id),
          handlers: {
            TaskCancelRequested: async (message) => {
              if (!mine(message)) return;
              // Yield so that partitions handled side by side interleave.
              await sleep(Math.random() * 3);
              seen[id]!.push(`${message.envelope!.taskId}:${message.reason}`);
            },
          },
        });
      }
      for (let index = 0; index < 20; index++) await bus.publish("TaskCancelRequested", cancel(task(index % 3), String(index)));
      await eventually("20 events in each group", () => seen.a!.length >= 20 && seen.b!.length >= 20);
      await sleep(quietMs);
      for (const id of ["a", "b"]) {
        expect(seen[id]).toHaveLength(20);
        for (const key of [0, 1, 2]) {
          const order = seen[id]!.filter((entry) => entry.startsWith(`${task(key)}:`)).map((entry) => Number(entry.split(":")[1]));
          expect(order).toEqual([...order].sort((x, y) => x - y));
        }
      }
    });

    it("shares a group's events between its members, each event once", async () => {
      await setUp();
      const byMember: string[][] = [[], []];
      for (const index of [0, 1]) await record(bus, group("shared"), byMember[index]!);
      for (let index = 0; index < 40; index++) await bus.publish("TaskCancelRequested", cancel(task(index), String(index)));
      await eventually("40 events", () => byMember[0]!.length + byMember[1]!.length >= 40);
      await sleep(quietMs);
      expect(byMember[0]!.length + byMember[1]!.length).toBe(40);
      expect(new Set([...byMember[0]!, ...byMember[1]!]).size).toBe(40);
      expect(byMember[0]!.length).toBeGreaterThan(0);
      expect(byMember[1]!.length).toBeGreaterThan(0);
    });

    it("gives a group that joins late the events published before it joined", async () => {
      await setUp();
      for (let index = 0; index < 5; index++) await bus.publish("TaskCancelRequested", cancel(task(index), String(index)));
      const seen: string[] = [];
      await record(bus, group("late"), seen);
      await eventually("5 earlier events", () => seen.length >= 5);
      expect([...seen].sort()).toEqual(["0", "1", "2", "3", "4"]);
    });

    it("carries the envelope, its trace context and the payload unchanged", async () => {
      await setUp();
      const sent = cancel(
        task("trace"),
        "with trace",
        create(TraceContextSchema, { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "vendor=value" }),
      );
      const received: TaskCancelRequested[] = [];
      await bus.subscribe({
        group: group("trace"),
        handlers: { TaskCancelRequested: async (message) => void (mine(message) && received.push(message)) },
      });
      await bus.publish("TaskCancelRequested", sent);
      await eventually("the event", () => received.length >= 1);
      expect(received[0]!.envelope).toEqual(sent.envelope);
      expect(received[0]!.reason).toBe("with trace");
    });

    it("redelivers an event whose handler failed, counting attempts", async () => {
      await setUp();
      const attempts: number[] = [];
      const seen: string[] = [];
      await record(bus, group("flaky"), seen, async (_message, delivery) => {
        attempts.push(delivery.attempt);
        if (delivery.attempt < 2) throw new Error("transient");
      });
      await bus.publish("TaskCancelRequested", cancel(task("x"), "flaky"));
      await eventually("the retried event", () => seen.length >= 1);
      await sleep(quietMs);
      expect(attempts).toEqual([1, 2]);
      expect(seen).toEqual(["flaky"]);
      expect(await bus.readDeadLetters().then((letters) => letters.filter((letter) => letter.key.startsWith(run)))).toEqual([]);
    });

    it("dead-letters an event that fails every attempt, with the reason and its bytes, and keeps its partition flowing", async () => {
      await setUp();
      const attempts: number[] = [];
      let poisonDelivery: Delivery | undefined;
      const seen: string[] = [];
      await record(bus, group("poison"), seen, async (message, delivery) => {
        if (message.reason !== "poison") return;
        attempts.push(delivery.attempt);
        poisonDelivery = delivery;
        throw new Error("always fails");
      });
      const poison = cancel(task("x"), "poison");
      await bus.publish("TaskCancelRequested", poison);
      await bus.publish("TaskCancelRequested", cancel(task("x"), "after"));
      await eventually("the event after the poison one", () => seen.includes("after"));
      expect(attempts).toEqual([1, 2, 3]);
      expect(seen).toEqual(["after"]);
      let letters: Awaited<ReturnType<EventBus["readDeadLetters"]>> = [];
      await eventually("the dead letter", async () => {
        letters = (await bus.readDeadLetters()).filter((letter) => letter.key.startsWith(run));
        return letters.length > 0;
      });
      expect(letters).toHaveLength(1);
      const [letter] = letters;
      expect(letter).toMatchObject({
        group: group("poison"),
        topic: EVENT_TYPES.TaskCancelRequested.topic,
        partition: poisonDelivery!.partition,
        offset: poisonDelivery!.offset,
        key: task("x"),
        eventId: poison.envelope!.eventId,
        reason: "handler_failed",
        attempts: 3,
      });
      expect(letter!.error).toContain("always fails");
      expect(letter!.time).toBeInstanceOf(Date);
      expect(fromBinary(TaskCancelRequestedSchema, letter!.value)).toEqual(poison);
    });

    it("resumes a group after its last handled event when one member leaves and another joins", async () => {
      await setUp();
      const first: string[] = [];
      const leaving = await record(bus, group("resume"), first);
      for (let index = 0; index < 5; index++) await bus.publish("TaskCancelRequested", cancel(task(index), `early-${index}`));
      await eventually("5 events on the first member", () => first.length >= 5);
      await leaving.close();
      for (let index = 0; index < 5; index++) await bus.publish("TaskCancelRequested", cancel(task(index), `late-${index}`));
      const second: string[] = [];
      await record(bus, group("resume"), second);
      await eventually("5 later events on the next member", () => second.length >= 5);
      await sleep(quietMs);
      expect(first.sort()).toEqual(["early-0", "early-1", "early-2", "early-3", "early-4"]);
      expect(second.sort()).toEqual(["late-0", "late-1", "late-2", "late-3", "late-4"]);
    });

    it("refuses an event without a task id or an event id, and any event once closed", async () => {
      await setUp();
      await expect(bus.publish("TaskCancelRequested", create(TaskCancelRequestedSchema, {}))).rejects.toMatchObject({
        kind: "invalid_argument",
      });
      const noEventId = cancel(task("x"), "no id");
      noEventId.envelope!.eventId = "";
      await expect(bus.publish("TaskCancelRequested", noEventId)).rejects.toMatchObject({ kind: "invalid_argument" });
      await bus.close();
      await expect(bus.publish("TaskCancelRequested", cancel(task("x"), "late"))).rejects.toMatchObject({
        kind: "failed_precondition",
      });
    });
  });
}
