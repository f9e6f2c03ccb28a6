import { parseEnv } from "@mlzero/config";
import { z } from "zod";

/** The memory service's settings from the environment. */
export function loadMemoryConfig(env: NodeJS.ProcessEnv) {
  return parseEnv(
    {
      // The embedded store's file; in memory only when unset. Qdrant arrives with the memory issue.
      MLZERO_MEMORY_STORE_FILE: z.string().min(1).optional(),
      MLZERO_KNOWLEDGE_DIR: z.string().min(1).optional(),
    },
    env,
  );
}
