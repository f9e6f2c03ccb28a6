import { FailedPreconditionError } from "@mlzero/errors";
import type { CollectionSpec, DeclaredVectors, PayloadIndex } from "@mlzero/vectors";
import type { Schemas } from "@qdrant/js-client-rest";

/** What `PUT /collections/{name}` declares: named dense vectors, and named sparse vectors with `modifier: "idf"` where asked. */
export function collectionVectors(spec: CollectionSpec): Pick<Schemas["CreateCollection"], "vectors" | "sparse_vectors"> {
  return {
    vectors: mapValues(spec.dense ?? {}, ({ size, distance }) => ({ size, distance })),
    sparse_vectors: mapValues(spec.sparse ?? {}, ({ idf }): Schemas["SparseVectorParams"] => (idf ? { modifier: "idf" } : {})),
  };
}

/** The vectors of an existing collection, from `GET /collections/{name}`. */
export function vectorsOf(collection: string, info: Schemas["CollectionInfo"]): DeclaredVectors {
  const { vectors = {}, sparse_vectors } = info.config.params;
  if (isSingleVector(vectors)) {
    throw new FailedPreconditionError(
      `collection ${JSON.stringify(collection)} exists with one unnamed vector; the store uses named vectors`,
    );
  }
  return {
    dense: mapValues(vectors, ({ size, distance }) => ({ size, distance })),
    sparse: mapValues(sparse_vectors ?? {}, ({ modifier }) => ({ idf: modifier === "idf" })),
  };
}

/** A payload index as `PUT /collections/{name}/index` takes it. */
export function fieldSchema(index: PayloadIndex): Schemas["PayloadFieldSchema"] {
  return index.type === "keyword" && index.isTenant ? { type: "keyword", is_tenant: true } : { type: index.type };
}

/**
 * The declared payload indexes that an existing collection lacks (all of them
 * for a new one). An existing index of another type or tenancy is refused,
 * naming the field: replacing it would silently change how Qdrant stores the points.
 */
export function missingPayloadIndexes(
  collection: string,
  info: Schemas["CollectionInfo"] | undefined,
  declared: Record<string, PayloadIndex> = {},
): [string, PayloadIndex][] {
  return Object.entries(declared).filter(([field, index]) => {
    const existing = info?.payload_schema[field];
    if (!existing) return true;
    const has = describeIndex(existing.data_type, (existing.params as { is_tenant?: boolean | null } | null | undefined)?.is_tenant);
    const wants = describeIndex(index.type, index.type === "keyword" && index.isTenant);
    if (has !== wants) {
      throw new FailedPreconditionError(
        `collection ${JSON.stringify(collection)} has payload index ${JSON.stringify(field)} as ${has}, the spec wants ${wants}`,
      );
    }
    return false;
  });
}

function describeIndex(type: string, isTenant: boolean | null | undefined): string {
  return isTenant ? `${type} (tenant)` : type;
}

function isSingleVector(vectors: Schemas["VectorsConfig"]): vectors is Schemas["VectorParams"] {
  return typeof (vectors as Partial<Schemas["VectorParams"]>).size === "number";
}

function mapValues<T, R>(record: Record<string, T | undefined>, map: (value: T) => R): Record<string, R> {
  return Object.fromEntries(Object.entries(record).flatMap(([key, value]) => (value === undefined ? [] : [[key, map(value)]])));
}
