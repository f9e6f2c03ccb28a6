import { createHash } from "node:crypto";
import { clone, create } from "@bufbuild/protobuf";
import { FailedPreconditionError, NotFoundError } from "@mlzero/errors";
import type { Embedder } from "@mlzero/llm";
import { KnowledgeHitSchema, KnowledgeKind, Modality, ToolSchema, type KnowledgeHit, type RetrieveRequest, type Tool } from "@mlzero/proto";
import { createBm25Encoder, tokenize, type Filter, type Payload, type Point, type VectorStore } from "@mlzero/vectors";
import { loadCorpus } from "./load-corpus.js";

/** Collection of the knowledge chunks. */
export const KNOWLEDGE_COLLECTION = "knowledge";
/** Name of the BM25 sparse vector in the memory collections. */
export const SPARSE_VECTOR = "bm25";
/** Name of the dense vector of the knowledge collection, when an embedder is configured. */
export const DENSE_VECTOR = "dense";
/**
 * The tenant field of the shared corpus. Every query is filtered by tenant:
 * a tenant sees the shared corpus and knowledge of its own, never another's.
 */
export const SHARED_TENANT = "*";

const DEFAULT_LIMIT = 5;
const MAX_LIMIT = 50;
const UPSERT_BATCH = 64;

const KIND_NAMES: Record<KnowledgeKind, string> = {
  [KnowledgeKind.UNSPECIFIED]: "unspecified",
  [KnowledgeKind.TOOL]: "tool",
  [KnowledgeKind.TUTORIAL]: "tutorial",
  [KnowledgeKind.TEMPLATE]: "template",
};
const KINDS_BY_NAME = new Map(Object.entries(KIND_NAMES).map(([kind, name]) => [name, Number(kind) as KnowledgeKind]));

/** What `index()` did. */
export interface IndexResult {
  /** The corpus version, and the embedding model when there is one: another model re-indexes. */
  version: string;
  chunks: number;
  /** False when the store already held exactly this corpus version. */
  reindexed: boolean;
}

/** Which vectors a retrieval ranks by. */
export type RetrievalMode = "sparse" | "dense" | "fused";

/** Library knowledge: the tool registry, condensed tutorials and runnable program templates. */
export interface SemanticMemory {
  /** Writes the corpus into the store unless the store already holds this version; drops stale chunks. */
  index(): Promise<IndexResult>;
  /**
   * Retrieval filtered by tenant (the shared corpus and the tenant's own),
   * tool, kind and modality, ranked by BM25 alone, or fused with dense
   * vectors by RRF when an embedder is configured (the default then; `mode`
   * picks one, for evaluation), then reranked by the hook when there is one.
   * A query without searchable words lists the filtered chunks instead, and
   * so does a template request whose words matched nothing: a template is a
   * whole program, wanted as such.
   */
  retrieve(request: RetrieveRequest, mode?: RetrievalMode): Promise<KnowledgeHit[]>;
  /** The retrieval modes this memory can serve: sparse always; dense and fused with an embedder. */
  modes(): RetrievalMode[];
  /** The registry, best first (priority, then name), optionally for one modality. */
  listTools(modality?: Modality): Tool[];
  /** The program template of a tool. */
  template(tool: string): string;
}

/** Reorders (or trims) retrieved hits; the LLM path plugs in a model that judges relevance. */
export type Rerank = (query: string, hits: KnowledgeHit[]) => Promise<KnowledgeHit[]>;

/** Options of createSemanticMemory. */
export interface CreateSemanticMemoryOptions {
  store: VectorStore;
  /** The corpus folder, `services/memory/knowledge` in this repository. */
  knowledgeDir: string;
  /** Dense vectors from an OpenAI-compatible embeddings endpoint; BM25 alone without it. */
  embedder?: Embedder;
  rerank?: Rerank;
}

/**
 * Loads and validates the corpus (throwing, naming the file, when it is
 * malformed) and returns the semantic memory over `store`. Call `index()`
 * once before `retrieve`.
 */
export function createSemanticMemory({ store, knowledgeDir, embedder, rerank }: CreateSemanticMemoryOptions): SemanticMemory {
  const corpus = loadCorpus(knowledgeDir);
  const lengths = corpus.chunks.map((chunk) => tokenize(searchText(chunk)).length);
  // Length normalisation is relative to this corpus's own typical chunk.
  const encoder = createBm25Encoder({ averageLength: Math.max(1, Math.round(lengths.reduce((sum, n) => sum + n, 0) / lengths.length)) });
  const version = embedder ? createHash("sha256").update(`${corpus.version}\0${embedder.model}`).digest("hex") : corpus.version;
  const versionFilter: Filter = { must: [{ key: "corpus_version", match: { value: version } }] };
  const modalitiesOf = new Map(corpus.tools.map((tool) => [tool.name, tool.modalities.map((modality) => modalityName(modality))]));
  let indexed = false;

  /** The collection as this memory needs it; one of another shape (a store indexed with or without dense vectors) is rebuilt. */
  async function ensureCollection(denseSize: number | undefined): Promise<void> {
    const spec = {
      sparse: { [SPARSE_VECTOR]: { idf: true } },
      ...(denseSize ? { dense: { [DENSE_VECTOR]: { size: denseSize, distance: "Cosine" as const } } } : {}),
      payloadIndexes: {
        tenant: { type: "keyword" as const, isTenant: true },
        tool: { type: "keyword" as const },
        kind: { type: "keyword" as const },
      },
    };
    try {
      await store.ensureCollection(KNOWLEDGE_COLLECTION, spec);
    } catch (error) {
      if (!(error instanceof FailedPreconditionError)) throw error;
      await store.deleteCollection(KNOWLEDGE_COLLECTION);
      await store.ensureCollection(KNOWLEDGE_COLLECTION, spec);
    }
  }

  return {
    async index() {
      const texts = corpus.chunks.map(searchText);
      // Embedding the corpus is the slow part: only when this version is not in the store yet.
      const probe = embedder ? (await embedder.embed([texts[0]!]))[0]!.length : undefined;
      await ensureCollection(probe);
      const current = await store.count(KNOWLEDGE_COLLECTION, versionFilter);
      const total = await store.count(KNOWLEDGE_COLLECTION);
      const upToDate = current === corpus.chunks.length && total === current;
      if (!upToDate) {
        const dense = embedder ? await embedder.embed(texts) : undefined;
        const points: Point[] = corpus.chunks.map((chunk, index) => ({
          id: chunk.id,
          vector: { [SPARSE_VECTOR]: encoder.document(texts[index]!), ...(dense ? { [DENSE_VECTOR]: dense[index]! } : {}) },
          payload: {
            tenant: SHARED_TENANT,
            tool: chunk.tool,
            kind: KIND_NAMES[chunk.kind],
            modalities: modalitiesOf.get(chunk.tool) ?? [],
            title: chunk.title,
            text: chunk.text,
            source: chunk.source,
            corpus_version: version,
          },
        }));
        for (let start = 0; start < points.length; start += UPSERT_BATCH) {
          await store.upsert(KNOWLEDGE_COLLECTION, points.slice(start, start + UPSERT_BATCH));
        }
        // Upsert first, then drop the rest: readers never see an empty index.
        await store.delete(KNOWLEDGE_COLLECTION, { must_not: versionFilter.must });
      }
      indexed = true;
      return { version, chunks: corpus.chunks.length, reindexed: !upToDate };
    },

    async retrieve(request, mode) {
      if (!indexed) throw new FailedPreconditionError("the knowledge index is not built yet");
      const using = mode ?? (embedder ? "fused" : "sparse");
      if (using !== "sparse" && !embedder) throw new FailedPreconditionError(`${using} retrieval needs an embeddings endpoint`);
      const limit = Math.min(request.limit || DEFAULT_LIMIT, MAX_LIMIT);
      const must: NonNullable<Filter["must"]> = [{ key: "tenant", match: { any: [SHARED_TENANT, request.tenant] } }];
      if (request.tool) must.push({ key: "tool", match: { value: request.tool } });
      if (request.kind !== KnowledgeKind.UNSPECIFIED) must.push({ key: "kind", match: { value: KIND_NAMES[request.kind] } });
      if (request.modality !== Modality.UNSPECIFIED) must.push({ key: "modalities", match: { value: modalityName(request.modality) } });
      const filter: Filter = { must };

      const sparse = encoder.query(request.query);
      if (sparse.indices.length > 0) {
        const dense = using === "sparse" ? undefined : (await embedder!.embed([request.query]))[0]!;
        const hits = await store.query(KNOWLEDGE_COLLECTION, {
          ...(using === "dense" ? {} : { sparse: { using: SPARSE_VECTOR, vector: sparse } }),
          ...(dense ? { dense: { using: DENSE_VECTOR, vector: dense } } : {}),
          filter,
          limit,
        });
        if (hits.length > 0 || request.kind !== KnowledgeKind.TEMPLATE) {
          const found = hits.map((hit) => toHit(hit.id, hit.payload, hit.score));
          return rerank ? rerank(request.query, found) : found;
        }
      }
      const { points } = await store.scroll(KNOWLEDGE_COLLECTION, { filter, limit });
      return points.map((point) => toHit(point.id, point.payload, 0));
    },

    modes() {
      return embedder ? ["sparse", "dense", "fused"] : ["sparse"];
    },

    listTools(modality = Modality.UNSPECIFIED) {
      return corpus.tools
        .filter((tool) => modality === Modality.UNSPECIFIED || tool.modalities.includes(modality))
        .map((tool) => clone(ToolSchema, tool));
    },

    template(tool) {
      const text = corpus.templates.get(tool);
      if (text === undefined) throw new NotFoundError(`no program template for tool ${JSON.stringify(tool)}`);
      return text;
    },
  };
}

/** "tabular" for Modality.TABULAR: how modalities are named in payloads. */
function modalityName(modality: Modality): string {
  return (Modality[modality] ?? String(modality)).toLowerCase();
}

// The title carries the document and section names, which queries often use.
function searchText(chunk: { title: string; text: string }): string {
  return `${chunk.title}\n${chunk.text}`;
}

function toHit(id: string, payload: Payload, score: number): KnowledgeHit {
  return create(KnowledgeHitSchema, {
    id,
    tool: String(payload.tool),
    kind: KINDS_BY_NAME.get(String(payload.kind)) ?? KnowledgeKind.UNSPECIFIED,
    title: String(payload.title),
    text: String(payload.text),
    score,
  });
}
