import { ConfigError, parseEnv } from "@mlzero/config";
import { z } from "zod";

/** The memory service's settings from the environment. */
export function loadMemoryConfig(env: NodeJS.ProcessEnv) {
  const config = parseEnv(
    {
      // Qdrant's REST endpoint (e.g. http://qdrant:6333); unset: the embedded store.
      MLZERO_QDRANT_URL: z.url({ protocol: /^https?$/ }).optional(),
      MLZERO_QDRANT_API_KEY: z.string().min(1).optional(),
      // The embedded store's file; in memory only when unset.
      MLZERO_MEMORY_STORE_FILE: z.string().min(1).optional(),
      MLZERO_KNOWLEDGE_DIR: z.string().min(1).optional(),
      // An OpenAI-compatible embeddings endpoint (e.g. http://vllm:8000/v1) for dense
      // vectors fused with BM25; unset: BM25 alone.
      MLZERO_EMBEDDINGS_URL: z.url({ protocol: /^https?$/ }).optional(),
      MLZERO_EMBEDDINGS_MODEL: z.string().min(1).optional(),
      MLZERO_EMBEDDINGS_API_KEY: z.string().min(1).optional(),
    },
    env,
  );
  if (config.MLZERO_QDRANT_URL && config.MLZERO_MEMORY_STORE_FILE) {
    throw new ConfigError("invalid configuration: MLZERO_QDRANT_URL and MLZERO_MEMORY_STORE_FILE name two stores; set one");
  }
  if (config.MLZERO_EMBEDDINGS_URL && !config.MLZERO_EMBEDDINGS_MODEL) {
    throw new ConfigError("invalid configuration: MLZERO_EMBEDDINGS_URL needs MLZERO_EMBEDDINGS_MODEL");
  }
  return config;
}
