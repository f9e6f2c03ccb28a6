import { count, parseEnv } from "@mlzero/config";
import { z } from "zod";

/** The executor's settings from the environment. */
export function loadExecutorConfig(env: NodeJS.ProcessEnv) {
  return parseEnv(
    {
      MLZERO_WORKSPACE_ROOT: z.string().min(1),
      // The Python of the runtime programs run in (the project's .venv locally).
      MLZERO_PYTHON: z.string().min(1),
      // Programs this executor runs at once; more wait their turn (recorded,
      // so a restart starts them). Unset: no limit.
      MLZERO_EXECUTOR_CONCURRENCY: count().optional(),
    },
    env,
  );
}
