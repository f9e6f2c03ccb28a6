import type { Embedder } from "@mlzero/llm";
import type { VectorStore } from "@mlzero/vectors";
import { createEpisodicMemory } from "./episodic-memory.js";
import { createLessonMemory } from "./lessons.js";
import { DEFAULT_KNOWLEDGE_DIR } from "./load-corpus.js";
import type { Memories } from "./memory-module.js";
import { createSemanticMemory, type IndexResult } from "./semantic-memory.js";

/** Options of {@link openMemories}. */
export interface OpenMemoriesOptions {
  store: VectorStore;
  /** The corpus folder (default: services/memory/knowledge). */
  knowledgeDir?: string;
  /** Dense vectors for the knowledge, fused with BM25; BM25 alone without it. */
  embedder?: Embedder;
}

/** The three memories over one store, with the knowledge indexed (a no-op when the store holds this corpus already). */
export async function openMemories(options: OpenMemoriesOptions): Promise<{ memories: Memories; indexed: IndexResult }> {
  const semantic = createSemanticMemory({
    store: options.store,
    knowledgeDir: options.knowledgeDir ?? DEFAULT_KNOWLEDGE_DIR,
    embedder: options.embedder,
  });
  const indexed = await semantic.index();
  return {
    memories: { semantic, episodic: createEpisodicMemory({ store: options.store }), lessons: createLessonMemory({ store: options.store }) },
    indexed,
  };
}
