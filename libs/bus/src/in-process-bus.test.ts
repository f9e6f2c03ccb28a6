import { create } from "@bufbuild/protobuf";
import { createSilentLogger } from "@mlzero/logging";
import { TaskCancelRequestedSchema, type TaskCancelRequested } from "@mlzero/proto";
import { afterEach, describe, expect, it } from "vitest";
import { newEnvelope } from "./envelope.js";
import { createInProcessBus, type InProcessBus } from "./in-process-bus.js";

function cancel(taskId: string, reason: string): TaskCancelRequested {
  return create(TaskCancelRequestedSchema, { envelope: newEnvelope({ taskId, tenant: "t", iteration: 0 }), reason });
}

describe("in-process bus", () => {
  let bus: InProcessBus;
  afterEach(async () => bus.close());

  it("keeps per-key order and gives every group every event", async () => {
    bus = createInProcessBus({ logger: createSilentLogger(), partitions: 4 });
    const seen: Record<string, string[]> = { a: [], b: [] };
    for (const group of ["a", "b"]) {
      await bus.subscribe({
        group,
        handlers: {
          TaskCancelRequested: async (message) => {
            // Yield so that concurrent partitions interleave.
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
            seen[group]!.push(`${message.envelope!.taskId}:${message.reason}`);
          },
        },
      });
    }
    for (let index = 0; index < 20; index++) {
      await bus.publish("TaskCancelRequested", cancel(`task-${index % 3}`, String(index)));
    }
    await bus.whenIdle();
    for (const group of ["a", "b"]) {
      expect(seen[group]).toHaveLength(20);
      for (const task of ["task-0", "task-1", "task-2"]) {
        const order = seen[group]!.filter((entry) => entry.startsWith(`${task}:`)).map((entry) => Number(entry.split(":")[1]));
        expect(order).toEqual([...order].sort((x, y) => x - y));
      }
    }
  });

  it("splits partitions between members of one group, each event once", async () => {
    bus = createInProcessBus({ logger: createSilentLogger(), partitions: 4 });
    const byMember: string[][] = [[], []];
    for (const index of [0, 1]) {
      await bus.subscribe({
        group: "g",
        handlers: { TaskCancelRequested: async (message) => void byMember[index]!.push(message.reason) },
      });
    }
    for (let index = 0; index < 40; index++) await bus.publish("TaskCancelRequested", cancel(`task-${index}`, String(index)));
    await bus.whenIdle();
    expect(byMember[0]!.length + byMember[1]!.length).toBe(40);
    expect(new Set([...byMember[0]!, ...byMember[1]!]).size).toBe(40);
    expect(byMember[0]!.length).toBeGreaterThan(0);
    expect(byMember[1]!.length).toBeGreaterThan(0);
  });

  it("redelivers after a failure, then dead-letters a poison event without blocking the partition", async () => {
    bus = createInProcessBus({ logger: createSilentLogger(), partitions: 1, maxAttempts: 3, retryBackoffMs: 1 });
    const attempts: Record<string, number> = {};
    const handled: string[] = [];
    await bus.subscribe({
      group: "g",
      handlers: {
        TaskCancelRequested: async (message, delivery) => {
          attempts[message.reason] = delivery.attempt;
          if (message.reason === "flaky" && delivery.attempt < 2) throw new Error("transient");
          if (message.reason === "poison") throw new Error("always fails");
          handled.push(message.reason);
        },
      },
    });
    await bus.publish("TaskCancelRequested", cancel("x", "flaky"));
    await bus.publish("TaskCancelRequested", cancel("x", "poison"));
    await bus.publish("TaskCancelRequested", cancel("x", "after"));
    await bus.whenIdle();
    expect(handled).toEqual(["flaky", "after"]);
    expect(attempts).toEqual({ flaky: 2, poison: 3, after: 1 });
    const [dead] = bus.deadLetters();
    expect(dead).toMatchObject({ group: "g", topic: "mlzero.task-cancel-requested.v1", offset: 1, key: "x" });
    expect(dead!.error).toContain("always fails");
  });

  it("refuses an event without a task id", async () => {
    bus = createInProcessBus({ logger: createSilentLogger() });
    await expect(bus.publish("TaskCancelRequested", create(TaskCancelRequestedSchema, {}))).rejects.toThrow(/task id/);
  });
});
