import { address, count, parseEnv } from "@mlzero/config";
import { z } from "zod";

/** The analyzer's settings from the environment. */
export function loadAnalyzerConfig(env: NodeJS.ProcessEnv) {
  return parseEnv(
    {
      MLZERO_WORKSPACE_ROOT: z.string().min(1),
      MLZERO_DEFAULT_MAX_ITERATIONS: count().default(5),
      // The memory service, for lessons of earlier tasks; unset: the analyzer decides alone.
      MLZERO_MEMORY_ADDRESS: address().optional(),
    },
    env,
  );
}
