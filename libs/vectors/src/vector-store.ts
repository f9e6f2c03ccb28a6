/**
 * A vector store shaped after Qdrant's API so that the embedded store and a
 * Qdrant adapter are interchangeable: collections with named dense and named
 * sparse vectors, points with UUID string ids and JSON payloads, keyword
 * filters, and the Query API (one vector, or dense + sparse fused with RRF).
 */

/** A JSON value, as a payload holds. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A point's payload: a JSON object. */
export type Payload = Record<string, JsonValue>;

/** Qdrant's sparse vector: parallel arrays, indices unique. */
export interface SparseVector {
  indices: number[];
  values: number[];
}

/** Similarity of a named dense vector (Qdrant's `Cosine` and `Dot`). */
export type Distance = "Cosine" | "Dot";

/** What a collection holds, as `PUT /collections/{name}` declares it. */
export interface CollectionSpec {
  /** Named dense vectors (Qdrant `vectors`). */
  dense?: Record<string, { size: number; distance: Distance }>;
  /**
   * Named sparse vectors (Qdrant `sparse_vectors`); `idf: true` is Qdrant's
   * `modifier: "idf"`: the store weights query terms by inverse document frequency.
   */
  sparse?: Record<string, { idf: boolean }>;
  /**
   * Payload fields to index, by key (dotted for nested fields), as Qdrant's
   * `PUT /collections/{name}/index` declares them. An index only speeds up
   * filters, never changes their results: the embedded store needs none and
   * ignores them; the Qdrant adapter creates the missing ones.
   */
  payloadIndexes?: Record<string, PayloadIndex>;
}

/**
 * A payload index (Qdrant `field_schema`). `isTenant` is Qdrant's `is_tenant`:
 * the field partitions points by tenant, so Qdrant stores each tenant's points
 * together; Qdrant allows it on keyword fields only.
 */
export type PayloadIndex = { type: "keyword"; isTenant?: boolean } | { type: "integer" } | { type: "bool" };

/**
 * One point: a UUID id, vectors by name (a dense name maps to numbers, a
 * sparse name to a SparseVector, as Qdrant's named vector map), and a payload.
 * A point may omit any named vector.
 */
export interface Point {
  id: string;
  vector: Record<string, number[] | SparseVector>;
  payload: Payload;
}

/** Qdrant `match`: one keyword/integer/bool value, or any of several. */
export type Match = { value: string | number | boolean } | { any: string[] | number[] };

/** Qdrant `FieldCondition` with a match; `key` may be a dotted path. */
export interface FieldCondition {
  key: string;
  match: Match;
}

/** Qdrant `Filter`: every `must` condition holds and no `must_not` condition does. */
export interface Filter {
  must?: FieldCondition[];
  must_not?: FieldCondition[];
}

/**
 * A Query API request. With one of `sparse`/`dense` it is a plain nearest
 * search on that named vector; with both, each is a prefetch of
 * `prefetchLimit(limit)` points and the results are fused with RRF.
 */
export interface QueryRequest {
  sparse?: { using: string; vector: SparseVector };
  dense?: { using: string; vector: number[] };
  filter?: Filter;
  limit: number;
}

/** A query result: higher scores are better, ties ordered by id. */
export interface ScoredPoint {
  id: string;
  score: number;
  payload: Payload;
}

/** A scroll request: points in id order, starting at `offset` (an id) when given. */
export interface ScrollRequest {
  filter?: Filter;
  limit: number;
  offset?: string;
}

/** One page of a scroll; `nextOffset` is the id where the next page starts. */
export interface ScrollPage {
  points: Point[];
  nextOffset?: string;
}

/** The vector store the memory service runs on: embedded, or Qdrant. */
export interface VectorStore {
  /** Creates the collection, or checks that an existing one has the spec's vectors. */
  ensureCollection(name: string, spec: CollectionSpec): Promise<void>;
  /** Drops a collection and its points; a missing one is not an error. */
  deleteCollection(name: string): Promise<void>;
  /** Inserts or replaces points by id. */
  upsert(collection: string, points: Point[]): Promise<void>;
  /** Deletes every point that matches the filter. */
  delete(collection: string, filter: Filter): Promise<void>;
  /** Nearest points by sparse and/or dense vector, best first. */
  query(collection: string, request: QueryRequest): Promise<ScoredPoint[]>;
  /** Points that match the filter, in id order, one page at a time. */
  scroll(collection: string, request: ScrollRequest): Promise<ScrollPage>;
  /** Exact number of points that match the filter. */
  count(collection: string, filter?: Filter): Promise<number>;
}

/** Qdrant's default RRF constant: a point at 0-based rank r in a list scores 1 / (k + r). */
export const RRF_K = 2;

/**
 * How many points each prefetch of a fused query ranks. An adapter sends it
 * as each prefetch's `limit`, so both stores fuse the same candidates.
 */
export function prefetchLimit(limit: number): number {
  return Math.max(limit * 4, 20);
}
