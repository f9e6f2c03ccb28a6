import { create } from "@bufbuild/protobuf";
import { createSilentLogger } from "@mlzero/logging";
import { TaskCancelRequestedSchema } from "@mlzero/proto";
import { afterEach, describe, expect, it } from "vitest";
import { newEnvelope } from "./envelope.js";
import { describeEventBusContract } from "./event-bus-contract.js";
import { createInProcessBus, type InProcessBus } from "./in-process-bus.js";

describeEventBusContract("in-process bus", async (options) =>
  createInProcessBus({ logger: createSilentLogger(), partitions: 4, ...options }),
);

describe("in-process bus", () => {
  let bus: InProcessBus;
  afterEach(async () => bus.close());

  it("is idle once every group has handled every event", async () => {
    bus = createInProcessBus({ logger: createSilentLogger(), partitions: 2 });
    const handled: string[] = [];
    await bus.subscribe({
      group: "g",
      handlers: {
        TaskCancelRequested: async (message) => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          handled.push(message.reason);
        },
      },
    });
    for (const reason of ["a", "b", "c"]) {
      await bus.publish(
        "TaskCancelRequested",
        create(TaskCancelRequestedSchema, { envelope: newEnvelope({ taskId: reason, tenant: "t", iteration: 0 }), reason }),
      );
    }
    await bus.whenIdle();
    expect(handled.sort()).toEqual(["a", "b", "c"]);
  });
});
