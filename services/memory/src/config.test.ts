import { describe, expect, it } from "vitest";
import { loadMemoryConfig } from "./config.js";

describe("memory config", () => {
  it("runs on the embedded store with BM25 alone by default", () => {
    expect(loadMemoryConfig({})).toEqual({});
  });

  it("takes Qdrant and an embeddings endpoint, and names what is wrong or missing", () => {
    const config = loadMemoryConfig({
      MLZERO_QDRANT_URL: "http://qdrant:6333",
      MLZERO_EMBEDDINGS_URL: "http://vllm:8000/v1",
      MLZERO_EMBEDDINGS_MODEL: "bge-small",
    });
    expect(config).toMatchObject({ MLZERO_QDRANT_URL: "http://qdrant:6333", MLZERO_EMBEDDINGS_MODEL: "bge-small" });
    expect(() => loadMemoryConfig({ MLZERO_QDRANT_URL: "qdrant:6333" })).toThrow(/MLZERO_QDRANT_URL/);
    expect(() => loadMemoryConfig({ MLZERO_EMBEDDINGS_URL: "http://vllm:8000/v1" })).toThrow(/needs MLZERO_EMBEDDINGS_MODEL/);
    expect(() => loadMemoryConfig({ MLZERO_QDRANT_URL: "http://q:6333", MLZERO_MEMORY_STORE_FILE: "/tmp/x.json" })).toThrow(/set one/);
  });
});
