import { describeEventBusContract } from "@mlzero/bus/contract";
import { createSilentLogger } from "@mlzero/logging";
import { afterAll, beforeAll } from "vitest";
import { startKafkaBroker, type KafkaBroker } from "./kafka-broker.js";
import { createKafkaBus } from "./kafka-bus.js";

let broker: KafkaBroker | undefined;
beforeAll(async () => {
  broker = await startKafkaBroker();
});
afterAll(async () => {
  await broker?.stop();
});

describeEventBusContract(
  "Kafka bus",
  (options) => createKafkaBus({ brokers: broker!.brokers, clientId: "contract", logger: createSilentLogger(), partitions: 4, ...options }),
  // Joining a group and rebalancing take a broker seconds, not milliseconds.
  { deliveryTimeoutMs: 30_000, quietMs: 500 },
);
