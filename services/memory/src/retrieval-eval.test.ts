import { createEmbeddedVectorStore } from "@mlzero/vectors";
import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_KNOWLEDGE_DIR, loadCorpus } from "./load-corpus.js";
import { evaluateRetrieval, loadRetrievalSet } from "./retrieval-eval.js";
import { createSemanticMemory, type SemanticMemory } from "./semantic-memory.js";

describe("the labelled retrieval set", () => {
  const set = loadRetrievalSet();
  let memory: SemanticMemory;
  beforeAll(async () => {
    memory = createSemanticMemory({ store: createEmbeddedVectorStore(), knowledgeDir: DEFAULT_KNOWLEDGE_DIR });
    await memory.index();
  });

  it("has at least 60 queries, descriptions and error messages, each labelled with a chunk the corpus has", () => {
    expect(set.length).toBeGreaterThanOrEqual(60);
    expect(new Set(set.map((labelled) => labelled.kind))).toEqual(new Set(["description", "error"]));
    const chunks = new Map(loadCorpus(DEFAULT_KNOWLEDGE_DIR).chunks.map((chunk) => [chunk.title, chunk.tool]));
    for (const labelled of set) expect(chunks.get(labelled.title), labelled.title).toBe(labelled.tool);
    // Every tool of the registry is asked about.
    expect(new Set(set.map((labelled) => labelled.tool))).toEqual(new Set(memory.listTools().map((tool) => tool.name)));
  });

  it("is answered in the top 5 at least 90% of the time by BM25 alone", async () => {
    const scores = await evaluateRetrieval(memory, set, "sparse");
    expect(scores.recallAt5, JSON.stringify(scores.misses, null, 2)).toBeGreaterThanOrEqual(0.9);
    expect(scores.mrr).toBeGreaterThan(0.7);
  });
});
