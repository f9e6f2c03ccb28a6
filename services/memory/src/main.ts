import { runServiceMain } from "@mlzero/service";
import { createEmbeddedVectorStore } from "@mlzero/vectors";
import { loadMemoryConfig } from "./config.js";
import { createEpisodicMemory } from "./episodic-memory.js";
import { createMemoryModule } from "./memory-module.js";
import { DEFAULT_KNOWLEDGE_DIR } from "./load-corpus.js";
import { createSemanticMemory } from "./semantic-memory.js";

await runServiceMain("memory", 50053, async ({ env, logger }) => {
  const config = loadMemoryConfig(env);
  const store = createEmbeddedVectorStore({ file: config.MLZERO_MEMORY_STORE_FILE });
  const semantic = createSemanticMemory({ store, knowledgeDir: config.MLZERO_KNOWLEDGE_DIR ?? DEFAULT_KNOWLEDGE_DIR });
  const { version, chunks, reindexed } = await semantic.index();
  logger.info({ version, chunks, reindexed }, "knowledge indexed");
  return createMemoryModule({ logger, semantic, episodic: createEpisodicMemory({ store }) });
});
