import { FailedPreconditionError } from "@mlzero/errors";

/**
 * A collection's vectors, as a spec declares them or as a store reports them
 * (a store may report a distance that the spec's type does not name).
 */
export interface DeclaredVectors {
  dense?: Record<string, { size: number; distance: string }>;
  sparse?: Record<string, { idf: boolean }>;
}

/**
 * Refuses an existing collection whose vectors differ from the spec's, naming
 * every difference. Payload indexes are not compared: they never change results.
 */
export function checkSameVectors(collection: string, existing: DeclaredVectors, wanted: DeclaredVectors): void {
  const differences = [
    ...vectorDifferences("dense", existing.dense, wanted.dense, (vector) => `size ${vector.size} ${vector.distance}`),
    ...vectorDifferences("sparse", existing.sparse, wanted.sparse, (vector) => (vector.idf ? "idf-weighted" : "unweighted")),
  ];
  if (differences.length > 0) {
    throw new FailedPreconditionError(`collection ${JSON.stringify(collection)} exists with different vectors: ${differences.join("; ")}`);
  }
}

function vectorDifferences<T>(
  kind: string,
  existing: Record<string, T> = {},
  wanted: Record<string, T> = {},
  describe: (vector: T) => string,
): string[] {
  const names = [...new Set([...Object.keys(existing), ...Object.keys(wanted)])].sort();
  return names.flatMap((name) => {
    const [present, declared] = [existing[name], wanted[name]];
    const has = present === undefined ? undefined : describe(present);
    const wants = declared === undefined ? undefined : describe(declared);
    const vector = `${kind} vector ${JSON.stringify(name)}`;
    if (has === wants) return [];
    if (has === undefined) return [`${vector} is missing, the spec wants it ${wants}`];
    if (wants === undefined) return [`${vector} exists, the spec has none`];
    return [`${vector} is ${has}, the spec wants ${wants}`];
  });
}
