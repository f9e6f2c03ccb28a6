import { InvalidInputError, NotFoundError } from "@mlzero/errors";
import { checkSameVectors } from "./collection-spec.js";
import { matchesFilter } from "./payload-filter.js";
import { validateDense, validatePoint, validateSparse } from "./point-validation.js";
import { readSnapshot, writeSnapshot, type StoreSnapshot } from "./store-file.js";
import {
  RRF_K,
  prefetchLimit,
  type CollectionSpec,
  type Point,
  type QueryRequest,
  type ScoredPoint,
  type SparseVector,
  type VectorStore,
} from "./vector-store.js";

/** Options of the embedded store. */
export interface EmbeddedVectorStoreOptions {
  /** JSON file the store loads at start and rewrites after every change; in memory only when absent. */
  file?: string;
}

interface Collection {
  spec: CollectionSpec;
  points: Map<string, Point>;
  /** Per sparse vector name: how many points hold each index, for IDF. */
  documentFrequency: Map<string, Map<number, number>>;
}

/**
 * The vector store of the embedded mode: everything in memory, persisted to
 * one JSON file. Same semantics as Qdrant for what the VectorStore interface
 * covers (IDF modifier, RRF with k = 2, filters), and exact: every point is scored.
 * Loads its file synchronously, so a corrupt file throws here, at start.
 */
export function createEmbeddedVectorStore(options: EmbeddedVectorStoreOptions = {}): VectorStore {
  const collections = new Map<string, Collection>();
  if (options.file) {
    for (const [name, stored] of Object.entries(readSnapshot(options.file).collections)) {
      const collection = newCollection(stored.spec);
      for (const point of stored.points) {
        validatePoint(name, stored.spec, point);
        putPoint(collection, point);
      }
      collections.set(name, collection);
    }
  }

  // Writes run one after another in mutation order, each with the state of its own mutation.
  let writes: Promise<void> = Promise.resolve();
  const persist = (): Promise<void> => {
    if (!options.file) return Promise.resolve();
    const file = options.file;
    const snapshot = takeSnapshot(collections);
    const write = writes.then(() => writeSnapshot(file, snapshot));
    writes = write.catch(() => undefined);
    return write;
  };

  const collectionNamed = (name: string): Collection => {
    const collection = collections.get(name);
    if (!collection) throw new NotFoundError(`collection ${JSON.stringify(name)} does not exist`);
    return collection;
  };

  return {
    async ensureCollection(name, spec) {
      const existing = collections.get(name);
      if (existing) {
        checkSameVectors(name, existing.spec, spec);
        return;
      }
      collections.set(name, newCollection(clone(spec)));
      await persist();
    },

    async deleteCollection(name) {
      if (collections.delete(name)) await persist();
    },

    async upsert(name, points) {
      const collection = collectionNamed(name);
      for (const point of points) validatePoint(name, collection.spec, point);
      for (const point of points) putPoint(collection, clone(point));
      await persist();
    },

    async delete(name, filter) {
      const collection = collectionNamed(name);
      const doomed = [...collection.points.values()].filter((point) => matchesFilter(point.payload, filter));
      for (const point of doomed) removePoint(collection, point.id);
      if (doomed.length > 0) await persist();
    },

    async query(name, request) {
      const collection = collectionNamed(name);
      validateQuery(name, collection.spec, request);
      const candidates = [...collection.points.values()].filter((point) => matchesFilter(point.payload, request.filter));
      const lists: ScoredPoint[][] = [];
      if (request.sparse) lists.push(rankSparse(collection, candidates, request.sparse.using, request.sparse.vector));
      if (request.dense) lists.push(rankDense(collection.spec, candidates, request.dense.using, request.dense.vector));
      const ranked = lists.length === 1 ? lists[0]! : fuse(lists.map((list) => list.slice(0, prefetchLimit(request.limit))));
      return ranked.slice(0, request.limit).map((hit) => ({ ...hit, payload: clone(hit.payload) }));
    },

    async scroll(name, request) {
      const collection = collectionNamed(name);
      if (!Number.isInteger(request.limit) || request.limit < 1) throw new InvalidInputError("scroll limit must be a positive integer");
      const matching = [...collection.points.values()]
        .filter((point) => matchesFilter(point.payload, request.filter) && (request.offset === undefined || point.id >= request.offset))
        .sort(byId);
      const page = matching.slice(0, request.limit).map(clone);
      const next = matching[request.limit];
      return next ? { points: page, nextOffset: next.id } : { points: page };
    },

    async count(name, filter) {
      const collection = collectionNamed(name);
      let total = 0;
      for (const point of collection.points.values()) if (matchesFilter(point.payload, filter)) total++;
      return total;
    },
  };
}

function newCollection(spec: CollectionSpec): Collection {
  const documentFrequency = new Map(Object.keys(spec.sparse ?? {}).map((name) => [name, new Map<number, number>()]));
  return { spec, points: new Map(), documentFrequency };
}

function putPoint(collection: Collection, point: Point): void {
  removePoint(collection, point.id);
  for (const [name, vector] of sparseVectors(collection, point)) {
    const frequency = collection.documentFrequency.get(name)!;
    for (const index of vector.indices) frequency.set(index, (frequency.get(index) ?? 0) + 1);
  }
  collection.points.set(point.id, point);
}

function removePoint(collection: Collection, id: string): void {
  const old = collection.points.get(id);
  if (!old) return;
  for (const [name, vector] of sparseVectors(collection, old)) {
    const frequency = collection.documentFrequency.get(name)!;
    for (const index of vector.indices) {
      const left = frequency.get(index)! - 1;
      if (left === 0) frequency.delete(index);
      else frequency.set(index, left);
    }
  }
  collection.points.delete(id);
}

function sparseVectors(collection: Collection, point: Point): [string, SparseVector][] {
  return Object.keys(collection.spec.sparse ?? {}).flatMap((name) => {
    const vector = point.vector[name];
    return vector && !Array.isArray(vector) ? [[name, vector] as [string, SparseVector]] : [];
  });
}

function validateQuery(collection: string, spec: CollectionSpec, request: QueryRequest): void {
  if (!Number.isInteger(request.limit) || request.limit < 1) throw new InvalidInputError("query limit must be a positive integer");
  if (!request.sparse && !request.dense) throw new InvalidInputError("a query needs a sparse or a dense vector");
  if (request.sparse) {
    if (!spec.sparse?.[request.sparse.using]) {
      throw new InvalidInputError(`sparse vector ${JSON.stringify(request.sparse.using)} is not declared in collection ${collection}`);
    }
    validateSparse(`${collection}/${request.sparse.using}`, request.sparse.vector);
  }
  if (request.dense) {
    const declared = spec.dense?.[request.dense.using];
    if (!declared)
      throw new InvalidInputError(`dense vector ${JSON.stringify(request.dense.using)} is not declared in collection ${collection}`);
    validateDense(`${collection}/${request.dense.using}`, declared.size, request.dense.vector);
  }
}

/**
 * Points that share at least one term with the query, scored by the sum of
 * query weight × document weight, times Qdrant's IDF
 * ln(1 + (N − n + 0.5) / (n + 0.5)) when the vector has the idf modifier.
 */
function rankSparse(collection: Collection, candidates: Point[], using: string, query: SparseVector): ScoredPoint[] {
  const frequency = collection.documentFrequency.get(using)!;
  let holders = 0;
  for (const point of collection.points.values()) if (point.vector[using]) holders++;
  const useIdf = collection.spec.sparse![using]!.idf;
  const weights = new Map<number, number>();
  query.indices.forEach((index, position) => {
    const n = frequency.get(index) ?? 0;
    const idf = useIdf ? Math.log(1 + (holders - n + 0.5) / (n + 0.5)) : 1;
    weights.set(index, query.values[position]! * idf);
  });
  const scored: ScoredPoint[] = [];
  for (const point of candidates) {
    const vector = point.vector[using];
    if (!vector || Array.isArray(vector)) continue;
    let score = 0;
    let overlaps = false;
    vector.indices.forEach((index, position) => {
      const weight = weights.get(index);
      if (weight === undefined) return;
      overlaps = true;
      score += weight * vector.values[position]!;
    });
    if (overlaps) scored.push({ id: point.id, score, payload: point.payload });
  }
  return scored.sort(byScore);
}

function rankDense(spec: CollectionSpec, candidates: Point[], using: string, query: number[]): ScoredPoint[] {
  const cosine = spec.dense![using]!.distance === "Cosine";
  const queryNorm = cosine ? norm(query) : 1;
  const scored: ScoredPoint[] = [];
  for (const point of candidates) {
    const vector = point.vector[using];
    if (!Array.isArray(vector)) continue;
    const dot = vector.reduce((sum, value, index) => sum + value * query[index]!, 0);
    const scale = cosine ? queryNorm * norm(vector) : 1;
    scored.push({ id: point.id, score: scale === 0 ? 0 : dot / scale, payload: point.payload });
  }
  return scored.sort(byScore);
}

/** Reciprocal rank fusion as Qdrant computes it: Σ 1 / (k + rank), rank counted from 0. */
function fuse(lists: ScoredPoint[][]): ScoredPoint[] {
  const fused = new Map<string, ScoredPoint>();
  for (const list of lists) {
    list.forEach((hit, rank) => {
      const entry = fused.get(hit.id) ?? { id: hit.id, score: 0, payload: hit.payload };
      entry.score += 1 / (RRF_K + rank);
      fused.set(hit.id, entry);
    });
  }
  return [...fused.values()].sort(byScore);
}

function norm(vector: number[]): number {
  return Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
}

// Ties break on id so that equal scores always come back in the same order.
function byScore(left: ScoredPoint, right: ScoredPoint): number {
  return right.score - left.score || byId(left, right);
}

function byId(left: { id: string }, right: { id: string }): number {
  return left.id < right.id ? -1 : left.id > right.id ? 1 : 0;
}

function takeSnapshot(collections: Map<string, Collection>): StoreSnapshot {
  const snapshot: StoreSnapshot = { collections: {} };
  for (const [name, collection] of collections) {
    snapshot.collections[name] = { spec: collection.spec, points: [...collection.points.values()].sort(byId) };
  }
  // Points are never mutated in place (upsert replaces them), so the snapshot may share them.
  return snapshot;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}
