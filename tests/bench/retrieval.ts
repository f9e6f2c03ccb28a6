import { createEmbedder } from "@mlzero/llm";
import { hashedEmbedding } from "@mlzero/llm/testing";
import {
  DEFAULT_KNOWLEDGE_DIR,
  createSemanticMemory,
  evaluateRetrieval,
  loadCorpus,
  loadRetrievalSet,
  type RetrievalScores,
} from "@mlzero/memory";
import { createBm25Encoder, createEmbeddedVectorStore, uuidV5, type Point } from "@mlzero/vectors";
import { Random } from "../support/random.js";
import { fixed, markdownTable, summarizeLatencies, type LatencySummary } from "./stats.js";

/** What the retrieval part of the benchmark measured. */
export interface RetrievalBench {
  quality: RetrievalScores[];
  /** Why dense and fused are missing, when they are. */
  denseNote: string;
  latency: { chunks: number; queries: number; sparse: LatencySummary; fused: LatencySummary };
}

/**
 * Retrieval quality on the labelled set (services/memory/eval): recall@1,
 * recall@5 and MRR for BM25, and for dense and fused retrieval when an
 * embeddings endpoint is configured (MLZERO_EMBEDDINGS_URL and
 * MLZERO_EMBEDDINGS_MODEL). Then query latency on the embedded store grown to
 * `chunks` points: the corpus plus generated chunks that recombine its
 * sentences, BM25 alone and fused with 64-dimensional dense vectors (from a
 * hashing stand-in: latency depends on the vectors' size, not their meaning).
 */
export async function benchRetrieval(chunks = 10_000): Promise<RetrievalBench> {
  const set = loadRetrievalSet();
  const url = process.env.MLZERO_EMBEDDINGS_URL;
  const model = process.env.MLZERO_EMBEDDINGS_MODEL;
  const embedder = url && model ? createEmbedder({ baseURL: url, model, apiKey: process.env.MLZERO_EMBEDDINGS_API_KEY }) : undefined;
  const memory = createSemanticMemory({ store: createEmbeddedVectorStore(), knowledgeDir: DEFAULT_KNOWLEDGE_DIR, embedder });
  await memory.index();
  const quality: RetrievalScores[] = [];
  for (const mode of memory.modes()) quality.push(await evaluateRetrieval(memory, set, mode));
  return {
    quality,
    denseNote: embedder
      ? `dense: ${model} at ${url}`
      : "dense and fused: not configured (set MLZERO_EMBEDDINGS_URL and MLZERO_EMBEDDINGS_MODEL)",
    latency: await measureLatency(
      chunks,
      set.map((labelled) => labelled.query),
    ),
  };
}

async function measureLatency(size: number, queries: string[]): Promise<RetrievalBench["latency"]> {
  const corpus = loadCorpus(DEFAULT_KNOWLEDGE_DIR);
  const texts = corpus.chunks.map((chunk) => `${chunk.title}\n${chunk.text}`);
  const sentences = texts.flatMap((text) => text.split(/(?<=[.!?\n])\s+/)).filter((sentence) => sentence.length > 20);
  const random = new Random(17);
  while (texts.length < size) {
    texts.push(Array.from({ length: random.int(3, 12) }, () => random.pick(sentences)).join(" "));
  }
  const encoder = createBm25Encoder({ averageLength: 120 });
  const store = createEmbeddedVectorStore();
  await store.ensureCollection("bench", { sparse: { bm25: { idf: true } }, dense: { dense: { size: 64, distance: "Cosine" } } });
  const points: Point[] = texts.map((text, index) => ({
    id: uuidV5(`bench/${index}`),
    vector: { bm25: encoder.document(text), dense: hashedEmbedding(text, 64) },
    payload: { tool: "bench", tenant: "*" },
  }));
  for (let start = 0; start < points.length; start += 500) await store.upsert("bench", points.slice(start, start + 500));

  const filter = { must: [{ key: "tenant", match: { any: ["*", "bench-tenant"] } }] };
  const time = async (fused: boolean): Promise<LatencySummary> => {
    const samples: number[] = [];
    // Three passes over the set; the first warms the caches and is not counted.
    for (let pass = 0; pass < 3; pass++) {
      for (const query of queries) {
        const started = performance.now();
        await store.query("bench", {
          sparse: { using: "bm25", vector: encoder.query(query) },
          ...(fused ? { dense: { using: "dense", vector: hashedEmbedding(query, 64) } } : {}),
          filter,
          limit: 5,
        });
        if (pass > 0) samples.push(performance.now() - started);
      }
    }
    return summarizeLatencies(samples);
  };
  return { chunks: texts.length, queries: queries.length, sparse: await time(false), fused: await time(true) };
}

/** The two tables of the retrieval part. */
export function retrievalTables(bench: RetrievalBench): string {
  const quality = markdownTable(
    ["mode", "queries", "recall@1", "recall@5", "MRR"],
    bench.quality.map((scores) => [
      scores.mode,
      String(scores.queries),
      fixed(scores.recallAt1, 3),
      fixed(scores.recallAt5, 3),
      fixed(scores.mrr, 3),
    ]),
  );
  const { latency } = bench;
  const timing = markdownTable(
    ["query", "chunks", "queries", "p50 ms", "p99 ms"],
    [
      ["BM25", String(latency.chunks), String(latency.sparse.count), fixed(latency.sparse.p50Ms, 2), fixed(latency.sparse.p99Ms, 2)],
      [
        "BM25 + dense, RRF",
        String(latency.chunks),
        String(latency.fused.count),
        fixed(latency.fused.p50Ms, 2),
        fixed(latency.fused.p99Ms, 2),
      ],
    ],
  );
  const misses = bench.quality
    .flatMap((scores) =>
      scores.misses.map(
        (miss) => `- ${scores.mode}: ${JSON.stringify(miss.query.slice(0, 80))} → expected "${miss.expected}", first "${miss.first}"`,
      ),
    )
    .join("\n");
  return `${quality}\n\n${bench.denseNote}\n\n${timing}${misses ? `\n\nNot in the top 5:\n${misses}` : ""}`;
}
