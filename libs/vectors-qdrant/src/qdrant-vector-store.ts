import { DomainError, type ErrorKind } from "@mlzero/errors";
import { checkSameVectors, type VectorStore } from "@mlzero/vectors";
import { QdrantClient, type Schemas } from "@qdrant/js-client-rest";
import { collectionVectors, fieldSchema, missingPayloadIndexes, vectorsOf } from "./qdrant-collection.js";
import { qdrantFailure } from "./qdrant-errors.js";
import { checkLimit, checkPointIds, pointOfRecord, pointStruct, qdrantFilter, queryRequest, scoredPoint } from "./qdrant-points.js";

/** Where the Qdrant server is. */
export interface QdrantVectorStoreOptions {
  /** e.g. http://qdrant:6333; without a port the client uses Qdrant's 6333, not the scheme's default. */
  url: string;
  /** Sent as the `api-key` header; a server without authentication needs none. */
  apiKey?: string;
  /** Per request (default 30 s). */
  timeoutMs?: number;
}

/**
 * The vector store on a Qdrant server, over its REST API: the VectorStore
 * contract maps one to one onto collections, points and the Query API.
 * Writes wait until Qdrant has applied them, so a read right after sees them.
 * Failures are domain errors naming the action (see `qdrantFailure`).
 * Qdrant normalises Cosine vectors on upload, so a scroll returns them
 * normalised where the embedded store returns them as given.
 */
export function createQdrantVectorStore(options: QdrantVectorStoreOptions): VectorStore {
  const client = new QdrantClient({
    url: options.url,
    apiKey: options.apiKey,
    timeout: options.timeoutMs ?? 30_000,
    // The check is a request fired at construction that nobody awaits, reported by console.warn;
    // an incompatible server fails the first real request clearly instead.
    checkCompatibility: false,
  });

  const call = async <T>(action: string, request: () => Promise<T>): Promise<T> => {
    try {
      return await request();
    } catch (error) {
      throw qdrantFailure(error, action, options.url);
    }
  };
  const named = (collection: string): string => JSON.stringify(collection);

  /** The collection's info, or undefined when it does not exist. */
  const readCollection = (name: string): Promise<Schemas["CollectionInfo"] | undefined> =>
    call(`read collection ${named(name)}`, () => client.getCollection(name)).catch((error: unknown) => {
      if (isKind(error, "not_found")) return undefined;
      throw error;
    });

  /** Creates the collection; false when another process created it first. */
  const createCollection = (name: string, vectors: ReturnType<typeof collectionVectors>): Promise<boolean> =>
    call(`create collection ${named(name)}`, () => client.createCollection(name, vectors)).catch((error: unknown) => {
      if (isKind(error, "already_exists")) return false;
      throw error;
    });

  return {
    async ensureCollection(name, spec) {
      let info = await readCollection(name);
      // Losing a creation race to another process is fine when it declared the same vectors.
      if (!info && !(await createCollection(name, collectionVectors(spec)))) info = await readCollection(name);
      if (info) checkSameVectors(name, vectorsOf(name, info), spec);
      for (const [field, index] of missingPayloadIndexes(name, info, spec.payloadIndexes)) {
        await call(`index ${JSON.stringify(field)} of collection ${named(name)}`, () =>
          client.createPayloadIndex(name, { field_name: field, field_schema: fieldSchema(index), wait: true }),
        );
      }
    },

    async deleteCollection(name) {
      // Qdrant answers for a missing collection with `result: false`, not an error.
      await call(`delete collection ${named(name)}`, () => client.deleteCollection(name));
    },

    async upsert(name, points) {
      checkPointIds(name, points);
      // An empty batch changes nothing; skipping it spares a round trip.
      if (points.length === 0) return;
      await call(`upsert into collection ${named(name)}`, () => client.upsert(name, { wait: true, points: points.map(pointStruct) }));
    },

    async delete(name, filter) {
      await call(`delete from collection ${named(name)}`, () => client.delete(name, { wait: true, filter: qdrantFilter(filter) }));
    },

    async query(name, request) {
      checkLimit("query", request.limit);
      const body = queryRequest(request);
      const { points } = await call(`query collection ${named(name)}`, () => client.query(name, body));
      return points.map(scoredPoint);
    },

    async scroll(name, request) {
      checkLimit("scroll", request.limit);
      const page = await call(`scroll collection ${named(name)}`, () =>
        client.scroll(name, {
          limit: request.limit,
          offset: request.offset,
          filter: request.filter && qdrantFilter(request.filter),
          with_payload: true,
          with_vector: true,
        }),
      );
      const points = page.points.map(pointOfRecord);
      const next = page.next_page_offset;
      return next === undefined || next === null ? { points } : { points, nextOffset: String(next) };
    },

    async count(name, filter) {
      const { count } = await call(`count collection ${named(name)}`, () =>
        client.count(name, { filter: filter && qdrantFilter(filter), exact: true }),
      );
      return count;
    },
  };
}

function isKind(error: unknown, kind: ErrorKind): boolean {
  return error instanceof DomainError && error.kind === kind;
}
