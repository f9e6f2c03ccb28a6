import { addresses, ConfigError, parseEnv, port } from "@mlzero/config";
import { createInProcessBus, type EventBus } from "@mlzero/bus";
import { createKafkaBus } from "@mlzero/bus-kafka";
import { describeError } from "@mlzero/errors";
import { createLogger, type Logger } from "@mlzero/logging";
import { z } from "zod";
import { startModule, type ServiceModule } from "./service-module.js";

/** What a service's `main.ts` gets to build its module from. */
export interface ServiceMainContext {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  bus: EventBus;
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
      MLZERO_LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
      // Kafka links the services of a cluster; in-process serves a standalone
      // service's own gRPC API, with no pipeline to the others.
      MLZERO_BUS: z.enum(["inprocess", "kafka"]).default("inprocess"),
      MLZERO_KAFKA_BROKERS: addresses().optional(),
    });
    if (common.MLZERO_BUS === "kafka" && !common.MLZERO_KAFKA_BROKERS) {
      throw new ConfigError("invalid configuration: MLZERO_KAFKA_BROKERS: required when MLZERO_BUS is kafka (host:port[,host:port...])");
    }
  } catch (error) {
    return exitOnConfigError(name, error);
  }
  const logger = createLogger({ service: name, level: common.MLZERO_LOG_LEVEL });
  // The check above guarantees brokers whenever the bus is Kafka.
  const brokers = common.MLZERO_BUS === "kafka" ? common.MLZERO_KAFKA_BROKERS : undefined;
  let bus: EventBus;
  try {
    bus = brokers
      ? await createKafkaBus({
          brokers,
          clientId: `mlzero-${name}`,
          logger: logger.child({ component: "bus" }),
        })
      : createInProcessBus({ logger });
  } catch (error) {
    process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
  let module: ServiceModule;
  try {
    module = await build({ env: process.env, logger, bus });
  } catch (error) {
    return exitOnConfigError(name, error);
  }
  try {
    await module.start?.();
  } catch (error) {
    process.stderr.write(`${name}: cannot take over the previous state: ${describeError(error)}\n`);
    process.exit(1);
  }
  const listen = { host: common.MLZERO_GRPC_HOST, port: common.MLZERO_GRPC_PORT };
  let started: Awaited<ReturnType<typeof startModule>>;
  try {
    started = await startModule(module, { bus, logger, listen });
  } catch (error) {
    process.stderr.write(
      `${name}: cannot serve on ${listen.host}:${listen.port}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    await started.stop();
    await bus.close();
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
