import { addresses, ConfigError, count, parseEnv, port, seconds } from "@mlzero/config";
import { z } from "zod";
import type { QuotaPolicy } from "./quotas.js";
import { allowedRootOf } from "./stage-input.js";

/** Where the gateway keeps its task state, as the environment chose it. */
export type TaskStateChoice =
  /** In this process only: a restarted gateway starts empty. */
  | { kind: "memory" }
  /** One file per task in a folder on this host. */
  | { kind: "file"; dir: string }
  /** A compacted Kafka topic: any host's gateway rebuilds from it. */
  | { kind: "kafka"; brokers: string[] };

/**
 * The gateway's settings from the environment. `taskState` resolves
 * MLZERO_GATEWAY_STATE (memory, file or kafka); when it is unset, the state
 * follows the bus: kafka with MLZERO_BUS=kafka, else file when
 * MLZERO_GATEWAY_STATE_DIR is set, else memory.
 */
export function loadGatewayConfig(env: NodeJS.ProcessEnv) {
  const config = parseEnv(
    {
      MLZERO_WORKSPACE_ROOT: z.string().min(1),
      MLZERO_GATEWAY_STATE: z.enum(["memory", "file", "kafka"]).optional(),
      // The file store's folder.
      MLZERO_GATEWAY_STATE_DIR: z.string().min(1).optional(),
      // Read here too (the service skeleton reads them for the bus): the
      // default store follows the bus, and the Kafka store needs the brokers.
      MLZERO_BUS: z.enum(["inprocess", "kafka"]).default("inprocess"),
      MLZERO_KAFKA_BROKERS: addresses().optional(),
      MLZERO_DEFAULT_MAX_ITERATIONS: count().default(5),
      MLZERO_DEFAULT_TIME_LIMIT_SECONDS: seconds().default(1800),
      MLZERO_DEFAULT_ITERATION_TIME_LIMIT_SECONDS: seconds().default(600),
      MLZERO_DEFAULT_MEMORY_LIMIT_BYTES: count().default(6 * 1024 ** 3),
      // A mounted secret of bearer tokens → tenants; unset: one tenant, "default", no authentication.
      MLZERO_GATEWAY_TOKENS_FILE: z.string().min(1).optional(),
      // Where inputs may come from: comma-separated paths or file:// URIs; unset: any local folder.
      MLZERO_GATEWAY_ALLOWED_ROOTS: allowedRoots().optional(),
      // A Watch stream with nothing to send sends a heartbeat this often.
      MLZERO_GATEWAY_WATCH_HEARTBEAT_SECONDS: seconds().default(15),
      // Quotas: a reloadable JSON file of per-tenant and gateway-wide limits, over these defaults; unset: no limit.
      MLZERO_GATEWAY_QUOTAS_FILE: z.string().min(1).optional(),
      MLZERO_TENANT_MAX_RUNNING_TASKS: count().optional(),
      MLZERO_TENANT_MAX_QUEUED_TASKS: count().optional(),
      MLZERO_TENANT_MAX_GPUS: count().optional(),
      MLZERO_GATEWAY_MAX_RUNNING_TASKS: count().optional(),
      MLZERO_GATEWAY_MAX_GPUS: count().optional(),
      // The analyzer's round width when a task leaves it at 0 (set it as the analyzer's): counts a task's GPUs.
      MLZERO_SEARCH_PARALLELISM: count().default(1),
      // The dashboard's HTTP port, on the gRPC server's interface (MLZERO_GRPC_HOST); unset or 0: no dashboard.
      MLZERO_GATEWAY_DASHBOARD_PORT: port().optional(),
      // Hours an ended task is kept (board, store, idempotency key, workspace folder) before it is forgotten; 0: forever.
      MLZERO_GATEWAY_TASK_RETENTION_HOURS: z.coerce.number().min(0).default(0),
    },
    env,
  );
  return { ...config, taskState: taskStateOf(config) };
}

function taskStateOf(config: {
  MLZERO_GATEWAY_STATE?: TaskStateChoice["kind"];
  MLZERO_GATEWAY_STATE_DIR?: string;
  MLZERO_BUS: "inprocess" | "kafka";
  MLZERO_KAFKA_BROKERS?: string[];
}): TaskStateChoice {
  const explicit = config.MLZERO_GATEWAY_STATE;
  const kind = explicit ?? (config.MLZERO_BUS === "kafka" ? "kafka" : config.MLZERO_GATEWAY_STATE_DIR ? "file" : "memory");
  const because = explicit ? `MLZERO_GATEWAY_STATE is ${explicit}` : "MLZERO_BUS is kafka";
  switch (kind) {
    case "memory":
      return { kind };
    case "file":
      if (!config.MLZERO_GATEWAY_STATE_DIR) {
        throw new ConfigError(`invalid configuration: MLZERO_GATEWAY_STATE_DIR: required when ${because}`);
      }
      return { kind, dir: config.MLZERO_GATEWAY_STATE_DIR };
    case "kafka":
      if (!config.MLZERO_KAFKA_BROKERS) {
        throw new ConfigError(`invalid configuration: MLZERO_KAFKA_BROKERS: required when ${because} (host:port[,host:port...])`);
      }
      return { kind, brokers: config.MLZERO_KAFKA_BROKERS };
  }
}

/** Comma-separated absolute paths or file:// URIs, as absolute paths; at least one. */
const allowedRoots = () =>
  z.string().transform((value, context) => {
    const roots: string[] = [];
    for (const part of value.split(",").map((entry) => entry.trim())) {
      if (!part) continue;
      try {
        roots.push(allowedRootOf(part));
      } catch (error) {
        context.addIssue({ code: "custom", message: (error as Error).message });
        return z.NEVER;
      }
    }
    if (roots.length === 0) {
      context.addIssue({ code: "custom", message: "expected absolute paths or file:// URIs, comma-separated" });
      return z.NEVER;
    }
    return roots;
  });

/** Budget values a task gets when its request leaves them out. */
export interface BudgetDefaults {
  maxIterations: number;
  timeLimitSeconds: number;
  iterationTimeLimitSeconds: number;
  memoryLimitBytes: number;
}

/** The defaults part of a loaded gateway config. */
export function budgetDefaultsFrom(config: ReturnType<typeof loadGatewayConfig>): BudgetDefaults {
  return {
    maxIterations: config.MLZERO_DEFAULT_MAX_ITERATIONS,
    timeLimitSeconds: config.MLZERO_DEFAULT_TIME_LIMIT_SECONDS,
    iterationTimeLimitSeconds: config.MLZERO_DEFAULT_ITERATION_TIME_LIMIT_SECONDS,
    memoryLimitBytes: config.MLZERO_DEFAULT_MEMORY_LIMIT_BYTES,
  };
}

/** The limits the environment sets (0: none); a quota file is read over them. */
export function quotaPolicyFrom(config: ReturnType<typeof loadGatewayConfig>): QuotaPolicy {
  return {
    defaults: {
      maxRunningTasks: config.MLZERO_TENANT_MAX_RUNNING_TASKS ?? 0,
      maxQueuedTasks: config.MLZERO_TENANT_MAX_QUEUED_TASKS ?? 0,
      maxGpus: config.MLZERO_TENANT_MAX_GPUS ?? 0,
    },
    tenants: new Map(),
    total: {
      maxRunningTasks: config.MLZERO_GATEWAY_MAX_RUNNING_TASKS ?? 0,
      maxGpus: config.MLZERO_GATEWAY_MAX_GPUS ?? 0,
    },
  };
}
