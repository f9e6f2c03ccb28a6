import type { Logger } from "@mlzero/logging";
import { Kafka, logLevel, Partitioners, type Admin, type Producer } from "kafkajs";
import { KAFKA_RETRY } from "./kafka-retry.js";
import { kafkajsLogCreator } from "./kafkajs-log-creator.js";

/** A kafkajs client with its admin and its one producer, set up the same way for every use in the project. */
export interface KafkaClient {
  kafka: Kafka;
  admin: Admin;
  producer: Producer;
}

/**
 * The client, admin and producer the bus and the compacted topic share: our
 * retry patience and logger, and an idempotent producer with one request in
 * flight that never creates topics (the project creates them).
 */
export function createKafkaClient(options: { clientId: string; brokers: string[]; logger: Logger }): KafkaClient {
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator: kafkajsLogCreator(options.logger),
    retry: KAFKA_RETRY,
  });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // Java's murmur2 partitioning, so any Kafka client places a task's events alike.
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: KAFKA_RETRY,
  });
  return { kafka, admin: kafka.admin(), producer };
}
