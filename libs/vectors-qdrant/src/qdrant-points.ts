import { InvalidInputError } from "@mlzero/errors";
import {
  isUuid,
  prefetchLimit,
  type FieldCondition,
  type Filter,
  type Payload,
  type Point,
  type QueryRequest,
  type ScoredPoint,
} from "@mlzero/vectors";
import type { Schemas } from "@qdrant/js-client-rest";

/**
 * Refuses ids that are not lowercase UUIDs, as the embedded store does:
 * Qdrant would also take integers and other UUID spellings, which the
 * embedded store could not hold.
 */
export function checkPointIds(collection: string, points: Point[]): void {
  for (const { id } of points) {
    if (typeof id !== "string" || !isUuid(id)) {
      throw new InvalidInputError(`point id ${JSON.stringify(id)} in ${collection} is not a lowercase UUID`);
    }
  }
}

/** Refuses a limit before it reaches Qdrant, with the embedded store's message. */
export function checkLimit(operation: "query" | "scroll", limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidInputError(`${operation} limit must be a positive integer`);
}

/** A point as `PUT /collections/{name}/points` takes it: the named vector map is Qdrant's own. */
export function pointStruct(point: Point): Schemas["PointStruct"] {
  return { id: point.id, vector: point.vector, payload: point.payload };
}

/** Qdrant's `Filter`: every condition a `match` on one value or any of several. */
export function qdrantFilter(filter: Filter): Schemas["Filter"] {
  const translated: Schemas["Filter"] = {};
  if (filter.must?.length) translated.must = filter.must.map(fieldCondition);
  if (filter.must_not?.length) translated.must_not = filter.must_not.map(fieldCondition);
  return translated;
}

function fieldCondition({ key, match }: FieldCondition): Schemas["FieldCondition"] {
  return { key, match: "value" in match ? { value: match.value } : { any: match.any } };
}

/**
 * A Query API request: one vector is a nearest search on that named vector;
 * dense and sparse are two prefetches of `prefetchLimit(limit)` points each,
 * both filtered, fused with RRF.
 */
export function queryRequest(request: QueryRequest): Schemas["QueryRequest"] {
  const searches = [request.sparse, request.dense].filter((search) => search !== undefined);
  const filter = request.filter && qdrantFilter(request.filter);
  const [only] = searches;
  if (!only) throw new InvalidInputError("a query needs a sparse or a dense vector");
  if (searches.length === 1) return { query: only.vector, using: only.using, filter, limit: request.limit, with_payload: true };
  return {
    prefetch: searches.map(({ using, vector }) => ({ query: vector, using, filter, limit: prefetchLimit(request.limit) })),
    query: { fusion: "rrf" },
    limit: request.limit,
    with_payload: true,
  };
}

/** A query hit: ids back to strings, the payload as stored. */
export function scoredPoint(hit: Schemas["ScoredPoint"]): ScoredPoint {
  return { id: String(hit.id), score: hit.score, payload: (hit.payload ?? {}) as Payload };
}

/**
 * A scrolled record. Its collection holds named dense and sparse vectors only,
 * so the output map is a Point's; a point stored without vectors has none.
 */
export function pointOfRecord(record: Schemas["Record"]): Point {
  const vector = record.vector && !Array.isArray(record.vector) ? (record.vector as Point["vector"]) : {};
  return { id: String(record.id), vector, payload: (record.payload ?? {}) as Payload };
}
