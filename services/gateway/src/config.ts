import { count, parseEnv, seconds } from "@mlzero/config";
import { z } from "zod";

/** The gateway's settings from the environment. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv) {
  return parseEnv(
    {
      MLZERO_WORKSPACE_ROOT: z.string().min(1),
      // Folder where task state survives a restart; without it, state lives
      // in memory and a restarted gateway starts empty.
      MLZERO_GATEWAY_STATE_DIR: z.string().min(1).optional(),
      MLZERO_DEFAULT_MAX_ITERATIONS: count().default(5),
      MLZERO_DEFAULT_TIME_LIMIT_SECONDS: seconds().default(1800),
      MLZERO_DEFAULT_ITERATION_TIME_LIMIT_SECONDS: seconds().default(600),
      MLZERO_DEFAULT_MEMORY_LIMIT_BYTES: count().default(6 * 1024 ** 3),
    },
    env,
  );
}

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
