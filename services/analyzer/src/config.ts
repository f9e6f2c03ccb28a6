import { address, count, parseEnv } from "@mlzero/config";
import { z } from "zod";

/** How the analyzer's search runs, from the environment (see {@link loadSearchConfig}). */
const SEARCH_ENV = {
  // Candidates run at once in a round when a task's budget says 0 (1: the single loop).
  MLZERO_SEARCH_PARALLELISM: count().default(1),
  // Rounds improving the best programs after the first success; unset: 1 with an LLM
  // (MLZERO_LLM_URL, which the coder shares), 0 without (the offline coder cannot improve).
  MLZERO_SEARCH_IMPROVE_ROUNDS: z.coerce.number().int().min(0).optional(),
};

/** The analyzer's settings from the environment. */
export function loadAnalyzerConfig(env: NodeJS.ProcessEnv) {
  return parseEnv(
    {
      MLZERO_WORKSPACE_ROOT: z.string().min(1),
      MLZERO_DEFAULT_MAX_ITERATIONS: count().default(5),
      ...SEARCH_ENV,
      // The memory service, for lessons of earlier tasks; unset: the analyzer decides alone.
      MLZERO_MEMORY_ADDRESS: address().optional(),
    },
    env,
  );
}

/** The search's settings alone (MLZERO_SEARCH_*), for an analyzer configured otherwise (e.g. embedded). */
export function loadSearchConfig(env: NodeJS.ProcessEnv) {
  return parseEnv(SEARCH_ENV, env);
}
