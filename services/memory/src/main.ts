import { createEmbedder } from "@mlzero/llm";
import { runServiceMain } from "@mlzero/service";
import { createEmbeddedVectorStore } from "@mlzero/vectors";
import { createQdrantVectorStore } from "@mlzero/vectors-qdrant";
import { loadMemoryConfig } from "./config.js";
import { createMemoryModule } from "./memory-module.js";
import { openMemories } from "./memories.js";

await runServiceMain("memory", 50053, async ({ env, logger }) => {
  const config = loadMemoryConfig(env);
  const store = config.MLZERO_QDRANT_URL
    ? createQdrantVectorStore({ url: config.MLZERO_QDRANT_URL, apiKey: config.MLZERO_QDRANT_API_KEY })
    : createEmbeddedVectorStore({ file: config.MLZERO_MEMORY_STORE_FILE });
  const embedder = config.MLZERO_EMBEDDINGS_URL
    ? createEmbedder({
        baseURL: config.MLZERO_EMBEDDINGS_URL,
        model: config.MLZERO_EMBEDDINGS_MODEL!,
        apiKey: config.MLZERO_EMBEDDINGS_API_KEY,
      })
    : undefined;
  const { memories, indexed } = await openMemories({ store, knowledgeDir: config.MLZERO_KNOWLEDGE_DIR, embedder });
  logger.info({ ...indexed, store: config.MLZERO_QDRANT_URL ? "qdrant" : "embedded", dense: Boolean(embedder) }, "knowledge indexed");
  return createMemoryModule({ logger, ...memories });
});
