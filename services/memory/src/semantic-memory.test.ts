import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KnowledgeKind, Modality, RetrieveRequestSchema, type KnowledgeHit } from "@mlzero/proto";
import { createEmbedder } from "@mlzero/llm";
import { hashedEmbedding, startScriptedEndpoint, type ScriptedEndpoint } from "@mlzero/llm/testing";
import { createEmbeddedVectorStore, type VectorStore } from "@mlzero/vectors";
import { createSemanticMemory, KNOWLEDGE_COLLECTION, type SemanticMemory } from "./semantic-memory.js";

const knowledgeDir = path.resolve(import.meta.dirname, "../knowledge");
const folders: string[] = [];
async function tempFolder(): Promise<string> {
  const folder = await mkdtemp(path.join(tmpdir(), "mlzero-semantic-"));
  folders.push(folder);
  return folder;
}
afterAll(async () => {
  await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
});

const titles = (hits: KnowledgeHit[]): string[] => hits.map((hit) => hit.title);

describe("semantic memory retrieval", () => {
  let memory: SemanticMemory;
  const retrieve = (init: { query?: string; tool?: string; kind?: KnowledgeKind; limit?: number }) =>
    memory.retrieve(create(RetrieveRequestSchema, { tenant: "t1", ...init }));

  beforeAll(async () => {
    memory = createSemanticMemory({ store: createEmbeddedVectorStore(), knowledgeDir });
    await memory.index();
  });

  it.each([
    ["ModuleNotFoundError lightgbm", /LightGBM common errors.*ModuleNotFoundError/],
    ["ValueError: could not convert string to float", /could not convert string to float/],
    ["KeyError: label column not found", /label column not found/],
    ["the program was killed: out of memory, exit code 137", /Out of memory|Not enough memory/],
    ["ValueError: Found unknown categories ['z'] in column 2 during transform", /Found unknown categories/],
    ["xgboost fit() got an unexpected keyword argument early_stopping_rounds", /unexpected keyword argument 'early_stopping_rounds'/],
  ])("finds the relevant chunk in the top 3 for %j", async (query, expected) => {
    const hits = await retrieve({ query, limit: 3 });
    expect(hits).toHaveLength(3);
    expect(
      titles(hits).some((title) => expected.test(title)),
      titles(hits).join("\n"),
    ).toBe(true);
    expect(hits[0]!.score).toBeGreaterThanOrEqual(hits[2]!.score);
  });

  it("filters by tool and by kind", async () => {
    const sklearnOnly = await retrieve({ query: "ModuleNotFoundError No module named", tool: "sklearn", limit: 10 });
    expect(sklearnOnly.length).toBeGreaterThan(0);
    expect(sklearnOnly.every((hit) => hit.tool === "sklearn")).toBe(true);
    const toolsOnly = await retrieve({ query: "tabular classification", kind: KnowledgeKind.TOOL, limit: 20 });
    expect(toolsOnly.map((hit) => hit.tool).sort()).toEqual(
      memory
        .listTools()
        .map((tool) => tool.name)
        .sort(),
    );
    expect(toolsOnly.every((hit) => hit.kind === KnowledgeKind.TOOL)).toBe(true);
  });

  it("defaults the limit to 5", async () => {
    expect(await retrieve({ query: "lightgbm categorical missing values" })).toHaveLength(5);
  });

  it("returns a tool's whole template as one hit, whatever the query says", async () => {
    // The template as served: lightgbm.py with the shared part spliced in at its include line.
    const [own, common] = await Promise.all(
      ["lightgbm.py", "common.py"].map((name) => readFile(path.join(knowledgeDir, "templates", name), "utf8")),
    );
    const expected = own!.replace("# mlzero:include common.py", common!.replace(/\n$/, ""));
    for (const query of ["lightgbm program template", "", "words that match nothing zzzz"]) {
      const hits = await retrieve({ query, tool: "lightgbm", kind: KnowledgeKind.TEMPLATE, limit: 1 });
      expect(hits).toHaveLength(1);
      expect(hits[0]!.text).toBe(expected);
      expect(hits[0]!.kind).toBe(KnowledgeKind.TEMPLATE);
      expect(hits[0]!.tool).toBe("lightgbm");
    }
    expect(memory.template("lightgbm")).toBe(expected);
  });

  it("finds nothing for an unknown tool and rejects an unknown template", async () => {
    expect(await retrieve({ query: "errors", tool: "catboost" })).toEqual([]);
    expect(() => memory.template("catboost")).toThrow(expect.objectContaining({ kind: "not_found" }));
  });

  it("lists tools best first, by modality", () => {
    const all = memory.listTools();
    expect(all.map((tool) => tool.priority)).toEqual(all.map((tool) => tool.priority).sort((a, b) => b - a));
    // The GPU variants (needs_gpu) rank first; without a GPU, autogluon.
    expect(all.filter((tool) => tool.needsGpu).map((tool) => tool.name)).toEqual(["image-timm", "text-transformer"]);
    expect(all.find((tool) => !tool.needsGpu)!.name).toBe("autogluon");
    const tabular = memory.listTools(Modality.TABULAR).map((tool) => tool.name);
    expect(tabular.slice(0, 2)).toEqual(["autogluon", "lightgbm"]);
    expect(tabular).toEqual(expect.arrayContaining(["sklearn", "xgboost"]));
    for (const modality of [Modality.TEXT, Modality.IMAGE, Modality.TIME_SERIES, Modality.MULTIMODAL]) {
      const tools = memory.listTools(modality);
      expect(tools.length, Modality[modality]).toBeGreaterThan(0);
      expect(tools.every((tool) => tool.modalities.includes(modality))).toBe(true);
    }
    // Callers get copies: changing one does not change the registry.
    memory.listTools()[0]!.priority = 1;
    expect(memory.listTools()[0]!.priority).toBe(95);
  });
});

describe("semantic memory indexing", () => {
  it("refuses to retrieve before the index is built", async () => {
    const memory = createSemanticMemory({ store: createEmbeddedVectorStore(), knowledgeDir });
    await expect(memory.retrieve(create(RetrieveRequestSchema, { query: "x" }))).rejects.toMatchObject({ kind: "failed_precondition" });
  });

  it("re-indexes nothing when the store already holds this version, even after a restart", async () => {
    const file = path.join(await tempFolder(), "vectors.json");
    const first = await createSemanticMemory({ store: createEmbeddedVectorStore({ file }), knowledgeDir }).index();
    expect(first.reindexed).toBe(true);
    const store = createEmbeddedVectorStore({ file });
    const again = await createSemanticMemory({ store, knowledgeDir }).index();
    expect(again).toEqual({ ...first, reindexed: false });
    expect(await store.count(KNOWLEDGE_COLLECTION)).toBe(first.chunks);
  });

  it("replaces a stale corpus with the changed one", async () => {
    const dir = await tempFolder();
    await cp(knowledgeDir, dir, { recursive: true });
    const store: VectorStore = createEmbeddedVectorStore();
    const before = await createSemanticMemory({ store, knowledgeDir: dir }).index();

    const file = path.join(dir, "tutorials/lightgbm/common-errors.md");
    const text = await readFile(file, "utf8");
    await writeFile(file, text.replace("## Timeout", "## Timeout or deadline exceeded") + "\n## Zebra stripes\n\nquagga okapi\n");
    const memory = createSemanticMemory({ store, knowledgeDir: dir });
    const after = await memory.index();

    expect(after.version).not.toBe(before.version);
    expect(after.reindexed).toBe(true);
    expect(await store.count(KNOWLEDGE_COLLECTION)).toBe(after.chunks);
    expect(after.chunks).toBe(before.chunks + 1);
    const hits = await memory.retrieve(create(RetrieveRequestSchema, { query: "timeout deadline lightgbm", tool: "lightgbm", limit: 10 }));
    expect(titles(hits)).toContain("LightGBM common errors and fixes: Timeout or deadline exceeded");
    expect(titles(hits)).not.toContain("LightGBM common errors and fixes: Timeout");
    const zebra = await memory.retrieve(create(RetrieveRequestSchema, { query: "quagga okapi" }));
    expect(titles(zebra)[0]).toBe("LightGBM common errors and fixes: Zebra stripes");
  });

  it("fails at creation, naming the file, when the corpus is malformed", async () => {
    const dir = await tempFolder();
    await cp(knowledgeDir, dir, { recursive: true });
    await writeFile(path.join(dir, "tools/sklearn.json"), "[]");
    expect(() => createSemanticMemory({ store: {} as VectorStore, knowledgeDir: dir })).toThrow(/tools\/sklearn\.json/);
  });
});

describe("semantic memory with dense vectors, filters and a rerank hook", () => {
  let endpoint: ScriptedEndpoint;
  beforeAll(async () => {
    endpoint = await startScriptedEndpoint({ embed: (text) => hashedEmbedding(text, 32) });
  });
  afterAll(async () => endpoint?.close());
  const embedder = (model = "embed-test") => createEmbedder({ baseURL: endpoint.baseURL, model, maxRetries: 0 });

  it("indexes dense vectors through the embeddings endpoint and serves sparse, dense and fused retrieval", async () => {
    const store = createEmbeddedVectorStore();
    const memory = createSemanticMemory({ store, knowledgeDir, embedder: embedder() });
    const indexed = await memory.index();
    expect(memory.modes()).toEqual(["sparse", "dense", "fused"]);
    const query = "ModuleNotFoundError: No module named 'lightgbm'";
    const request = create(RetrieveRequestSchema, { tenant: "t1", query, limit: 5 });
    for (const mode of ["sparse", "dense", "fused"] as const) {
      const hits = await memory.retrieve(request, mode);
      expect(hits, mode).toHaveLength(5);
    }
    const fused = await memory.retrieve(request);
    expect(fused).toEqual(await memory.retrieve(request, "fused"));
    expect(titles(fused).some((title) => /LightGBM common errors/.test(title))).toBe(true);
    // A second index of the same corpus and model embeds nothing but its probe.
    const requests = endpoint.requests.length;
    expect(await createSemanticMemory({ store, knowledgeDir, embedder: embedder() }).index()).toEqual({ ...indexed, reindexed: false });
    expect(endpoint.requests.length).toBe(requests + 1);
    // Another model is another index.
    const other = await createSemanticMemory({ store, knowledgeDir, embedder: embedder("embed-other") }).index();
    expect(other.version).not.toBe(indexed.version);
    expect(other.reindexed).toBe(true);
    // And back to BM25 alone: the collection is rebuilt without dense vectors.
    const sparseOnly = createSemanticMemory({ store, knowledgeDir });
    expect((await sparseOnly.index()).reindexed).toBe(true);
    expect(sparseOnly.modes()).toEqual(["sparse"]);
    await expect(sparseOnly.retrieve(request, "dense")).rejects.toThrow(/needs an embeddings endpoint/);
  });

  it("filters by modality, shows every tenant the shared corpus, and lets a rerank hook reorder", async () => {
    const reranked: string[] = [];
    const memory = createSemanticMemory({
      store: createEmbeddedVectorStore(),
      knowledgeDir,
      rerank: async (query, hits) => {
        reranked.push(query);
        return [...hits].reverse();
      },
    });
    await memory.index();
    const request = (init: { tenant?: string; modality?: Modality }) =>
      create(RetrieveRequestSchema, { tenant: "t1", query: "classification metric", kind: KnowledgeKind.TOOL, limit: 50, ...init });
    const tabular = await memory.retrieve(request({ modality: Modality.TABULAR }));
    const tabularTools = memory.listTools(Modality.TABULAR).map((tool) => tool.name);
    expect(tabular.length).toBeGreaterThan(0);
    expect(tabular.every((hit) => tabularTools.includes(hit.tool))).toBe(true);
    expect(titles(await memory.retrieve(request({ tenant: "t2" })))).toEqual(titles(await memory.retrieve(request({ tenant: "t1" }))));
    expect(reranked).toContain("classification metric");
    const plain = createSemanticMemory({ store: createEmbeddedVectorStore(), knowledgeDir });
    await plain.index();
    expect(titles(await memory.retrieve(request({})))).toEqual(titles(await plain.retrieve(request({}))).reverse());
  });
});
