import { InvalidInputError } from "@mlzero/errors";
import { isUuid } from "./uuid-v5.js";
import type { CollectionSpec, Point, SparseVector } from "./vector-store.js";

const MAX_INDEX = 2 ** 32 - 1;

/**
 * Rejects a point Qdrant would reject: a non-UUID id, an undeclared vector
 * name, a dense vector of the wrong size, a malformed sparse vector, or a
 * payload that is not a JSON object. Checking here keeps the embedded store
 * from accepting what the Qdrant adapter later could not.
 */
export function validatePoint(collection: string, spec: CollectionSpec, point: Point): void {
  if (typeof point.id !== "string" || !isUuid(point.id)) {
    throw new InvalidInputError(`point id ${JSON.stringify(point.id)} in ${collection} is not a lowercase UUID`);
  }
  if (typeof point.payload !== "object" || point.payload === null || Array.isArray(point.payload)) {
    throw new InvalidInputError(`point ${point.id} in ${collection} has no payload object`);
  }
  for (const [name, vector] of Object.entries(point.vector ?? {})) {
    if (spec.dense?.[name]) validateDense(`${collection}/${name}`, spec.dense[name].size, vector);
    else if (spec.sparse?.[name]) validateSparse(`${collection}/${name}`, vector);
    else throw new InvalidInputError(`vector ${JSON.stringify(name)} is not declared in collection ${collection}`);
  }
}

/** Checks a dense vector against its declared size. */
export function validateDense(where: string, size: number, vector: unknown): asserts vector is number[] {
  if (!Array.isArray(vector) || vector.length !== size || !vector.every(Number.isFinite)) {
    throw new InvalidInputError(`dense vector ${where} must be ${size} finite numbers`);
  }
}

/** Checks a sparse vector: parallel arrays, unique 32-bit indices, finite values. */
export function validateSparse(where: string, vector: unknown): asserts vector is SparseVector {
  const sparse = vector as Partial<SparseVector>;
  if (typeof vector !== "object" || vector === null || !Array.isArray(sparse.indices) || !Array.isArray(sparse.values)) {
    throw new InvalidInputError(`sparse vector ${where} must have indices and values`);
  }
  if (sparse.indices.length !== sparse.values.length) {
    throw new InvalidInputError(`sparse vector ${where} has ${sparse.indices.length} indices but ${sparse.values.length} values`);
  }
  if (!sparse.indices.every((index) => Number.isInteger(index) && index >= 0 && index <= MAX_INDEX)) {
    throw new InvalidInputError(`sparse vector ${where} has an index outside 0..2^32-1`);
  }
  if (new Set(sparse.indices).size !== sparse.indices.length) {
    throw new InvalidInputError(`sparse vector ${where} repeats an index`);
  }
  if (!sparse.values.every(Number.isFinite)) throw new InvalidInputError(`sparse vector ${where} has a non-finite value`);
}
