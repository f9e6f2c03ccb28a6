import { clone, create } from "@bufbuild/protobuf";
import { FailedPreconditionError, NotFoundError } from "@mlzero/errors";
import { KnowledgeHitSchema, KnowledgeKind, Modality, ToolSchema, type KnowledgeHit, type RetrieveRequest, type Tool } from "@mlzero/proto";
import { createBm25Encoder, tokenize, type Filter, type Payload, type Point, type VectorStore } from "@mlzero/vectors";
import { loadCorpus } from "./load-corpus.js";

/** Collection of the knowledge chunks. */
export const KNOWLEDGE_COLLECTION = "knowledge";
/** Name of the BM25 sparse vector in the memory collections. */
export const SPARSE_VECTOR = "bm25";

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
  version: string;
  chunks: number;
  /** False when the store already held exactly this corpus version. */
  reindexed: boolean;
}

/** Library knowledge: the tool registry, condensed tutorials and runnable program templates. */
export interface SemanticMemory {
  /** Writes the corpus into the store unless the store already holds this version; drops stale chunks. */
  index(): Promise<IndexResult>;
  /**
   * BM25 retrieval, filtered by tool and kind; the corpus is shared by all
   * tenants, so `tenant` does not filter. A query without searchable
   * words lists the filtered chunks instead, and so does a template request
   * whose words matched nothing: a template is a whole program, wanted as such.
   */
  retrieve(request: RetrieveRequest): Promise<KnowledgeHit[]>;
  /** The registry, best first (priority, then name), optionally for one modality. */
  listTools(modality?: Modality): Tool[];
  /** The program template of a tool. */
  template(tool: string): string;
}

/** Options of createSemanticMemory. */
export interface CreateSemanticMemoryOptions {
  store: VectorStore;
  /** The corpus folder, `services/memory/knowledge` in this repository. */
  knowledgeDir: string;
}

/**
 * Loads and validates the corpus (throwing, naming the file, when it is
 * malformed) and returns the semantic memory over `store`. Call `index()`
 * once before `retrieve`.
 */
export function createSemanticMemory({ store, knowledgeDir }: CreateSemanticMemoryOptions): SemanticMemory {
  const corpus = loadCorpus(knowledgeDir);
  const lengths = corpus.chunks.map((chunk) => tokenize(searchText(chunk)).length);
  // Length normalisation is relative to this corpus's own typical chunk.
  const encoder = createBm25Encoder({ averageLength: Math.max(1, Math.round(lengths.reduce((sum, n) => sum + n, 0) / lengths.length)) });
  const versionFilter: Filter = { must: [{ key: "corpus_version", match: { value: corpus.version } }] };
  let indexed = false;

  return {
    async index() {
      await store.ensureCollection(KNOWLEDGE_COLLECTION, { sparse: { [SPARSE_VECTOR]: { idf: true } } });
      const current = await store.count(KNOWLEDGE_COLLECTION, versionFilter);
      const total = await store.count(KNOWLEDGE_COLLECTION);
      const upToDate = current === corpus.chunks.length && total === current;
      if (!upToDate) {
        const points: Point[] = corpus.chunks.map((chunk) => ({
          id: chunk.id,
          vector: { [SPARSE_VECTOR]: encoder.document(searchText(chunk)) },
          payload: {
            tool: chunk.tool,
            kind: KIND_NAMES[chunk.kind],
            title: chunk.title,
            text: chunk.text,
            source: chunk.source,
            corpus_version: corpus.version,
          },
        }));
        for (let start = 0; start < points.length; start += UPSERT_BATCH) {
          await store.upsert(KNOWLEDGE_COLLECTION, points.slice(start, start + UPSERT_BATCH));
        }
        // Upsert first, then drop the rest: readers never see an empty index.
        await store.delete(KNOWLEDGE_COLLECTION, { must_not: versionFilter.must });
      }
      indexed = true;
      return { version: corpus.version, chunks: corpus.chunks.length, reindexed: !upToDate };
    },

    async retrieve(request) {
      if (!indexed) throw new FailedPreconditionError("the knowledge index is not built yet");
      const limit = Math.min(request.limit || DEFAULT_LIMIT, MAX_LIMIT);
      const must: NonNullable<Filter["must"]> = [];
      if (request.tool) must.push({ key: "tool", match: { value: request.tool } });
      if (request.kind !== KnowledgeKind.UNSPECIFIED) must.push({ key: "kind", match: { value: KIND_NAMES[request.kind] } });
      const filter: Filter = must.length > 0 ? { must } : {};

      const query = encoder.query(request.query);
      if (query.indices.length > 0) {
        const hits = await store.query(KNOWLEDGE_COLLECTION, { sparse: { using: SPARSE_VECTOR, vector: query }, filter, limit });
        if (hits.length > 0 || request.kind !== KnowledgeKind.TEMPLATE) return hits.map((hit) => toHit(hit.id, hit.payload, hit.score));
      }
      const { points } = await store.scroll(KNOWLEDGE_COLLECTION, { filter, limit });
      return points.map((point) => toHit(point.id, point.payload, 0));
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
