import { addresses, ConfigError, count, parseEnv, port } from "@mlzero/config";
import { createInProcessBus, type EventBus } from "@mlzero/bus";
import { createKafkaBus } from "@mlzero/bus-kafka";
import { describeError } from "@mlzero/errors";
import { createLogger, type Logger } from "@mlzero/logging";
import { createOtlpHttpExporter, otlpTracesUrl, startMetricsServer, startTracing, type MetricsServer } from "@mlzero/telemetry";
import { z } from "zod";
import { startModule, type ServiceModule } from "./service-module.js";

/** What a service's `main.ts` gets to build its module from. */
export interface ServiceMainContext {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  bus: EventBus;
  /** The interface the gRPC server binds (MLZERO_GRPC_HOST), for a service's other listeners to bind alike. */
  host: string;
  /** How the topics a service creates are laid out (MLZERO_KAFKA_PARTITIONS, MLZERO_KAFKA_REPLICATION_FACTOR). */
  kafkaTopics: KafkaTopicLayout;
}

/** Partitions and replication of the topics the services create when missing. */
export interface KafkaTopicLayout {
  /** Bounds the replicas of one consumer group that get work: size it for the most replicas of any stage. */
  partitions: number;
  replicationFactor: number;
}

/**
 * The body of every service's `main.ts`: reads the common settings, builds
 * the bus and the module, serves until SIGTERM/SIGINT, then drains. A
 * configuration error stops the process with one line naming the variable.
 */
export async function runServiceMain(
  name: string,
  defaultPort: number,
  build: (context: ServiceMainContext) => Promise<ServiceModule>,
): Promise<void> {
  let common;
  try {
    common = parseEnv({
      MLZERO_GRPC_HOST: z.string().default("127.0.0.1"),
      MLZERO_GRPC_PORT: port().default(defaultPort),
      // grpc.health.v1 alone in plaintext, for probes that cannot speak the TLS the main port does.
      MLZERO_GRPC_HEALTH_PORT: port().optional(),
      MLZERO_LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
      // Kafka links the services of a cluster; in-process serves a standalone
      // service's own gRPC API, with no pipeline to the others.
      MLZERO_BUS: z.enum(["inprocess", "kafka"]).default("inprocess"),
      MLZERO_KAFKA_BROKERS: addresses().optional(),
      // Used when a topic is created; an existing topic is left as it is (with a warning when it differs).
      MLZERO_KAFKA_PARTITIONS: count().default(8),
      MLZERO_KAFKA_REPLICATION_FACTOR: count().default(1),
      // Prometheus /metrics: off unless a port is given (0 picks a free one, logged).
      MLZERO_METRICS_PORT: port().optional(),
      MLZERO_METRICS_HOST: z.string().optional(),
      // Where finished spans go (otlp: OTLP/HTTP JSON to OTEL_EXPORTER_OTLP_ENDPOINT); trace context is carried either way.
      MLZERO_TRACE_EXPORTER: z.enum(["none", "console", "otlp"]).default("none"),
    });
    if (common.MLZERO_BUS === "kafka" && !common.MLZERO_KAFKA_BROKERS) {
      throw new ConfigError("invalid configuration: MLZERO_KAFKA_BROKERS: required when MLZERO_BUS is kafka (host:port[,host:port...])");
    }
  } catch (error) {
    return exitOnConfigError(name, error);
  }
  const logger = createLogger({ service: name, level: common.MLZERO_LOG_LEVEL });
  const tracing = startTracing({
    serviceName: `mlzero-${name}`,
    exporter:
      common.MLZERO_TRACE_EXPORTER === "otlp" ? createOtlpHttpExporter({ url: otlpTracesUrl(process.env) }) : common.MLZERO_TRACE_EXPORTER,
  });
  // The check above guarantees brokers whenever the bus is Kafka.
  const brokers = common.MLZERO_BUS === "kafka" ? common.MLZERO_KAFKA_BROKERS : undefined;
  const kafkaTopics = { partitions: common.MLZERO_KAFKA_PARTITIONS, replicationFactor: common.MLZERO_KAFKA_REPLICATION_FACTOR };
  let bus: EventBus;
  try {
    bus = brokers
      ? await createKafkaBus({
          brokers,
          clientId: `mlzero-${name}`,
          logger: logger.child({ component: "bus" }),
          ...kafkaTopics,
        })
      : createInProcessBus({ logger });
  } catch (error) {
    process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
  let module: ServiceModule;
  try {
    module = await build({ env: process.env, logger, bus, host: common.MLZERO_GRPC_HOST, kafkaTopics });
  } catch (error) {
    return exitOnConfigError(name, error);
  }
  try {
    await module.start?.();
  } catch (error) {
    process.stderr.write(`${name}: cannot take over the previous state: ${describeError(error)}\n`);
    process.exit(1);
  }
  const listen = { host: common.MLZERO_GRPC_HOST, port: common.MLZERO_GRPC_PORT, healthPort: common.MLZERO_GRPC_HEALTH_PORT };
  let started: Awaited<ReturnType<typeof startModule>>;
  try {
    started = await startModule(module, { bus, logger, listen });
  } catch (error) {
    process.stderr.write(
      `${name}: cannot serve on ${listen.host}:${listen.port}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  }
  let metricsServer: MetricsServer | undefined;
  if (common.MLZERO_METRICS_PORT !== undefined) {
    const metricsListen = { host: common.MLZERO_METRICS_HOST ?? common.MLZERO_GRPC_HOST, port: common.MLZERO_METRICS_PORT };
    try {
      metricsServer = await startMetricsServer(metricsListen);
    } catch (error) {
      process.stderr.write(`${name}: cannot serve metrics on ${metricsListen.host}:${metricsListen.port}: ${describeError(error)}\n`);
      process.exit(1);
    }
    logger.info({ port: metricsServer.port, url: metricsServer.url }, "metrics listening");
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    await started.stop();
    await bus.close();
    await metricsServer?.close();
    await tracing.shutdown().catch(() => undefined);
    logger.info({}, "stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

function exitOnConfigError(name: string, error: unknown): never {
  const message = error instanceof ConfigError ? error.message : describeError(error);
  process.stderr.write(`${name}: ${message}\n`);
  process.exit(2);
}
