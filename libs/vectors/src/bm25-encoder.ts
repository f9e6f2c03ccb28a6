import type { SparseVector } from "./vector-store.js";
import { tokenize } from "./tokenize.js";

/** BM25 parameters of the document side. */
export interface Bm25Options {
  /** Term-frequency saturation (default 1.2). */
  k1?: number;
  /** Length normalisation strength, 0..1 (default 0.75). */
  b?: number;
  /** Typical document length in terms, the length that is neither rewarded nor penalised (default 256). */
  averageLength?: number;
}

/** Turns text into sparse vectors: documents with BM25 term weights, queries with one weight per term. */
export interface SparseEncoder {
  document(text: string): SparseVector;
  query(text: string): SparseVector;
}

/**
 * Stable 32-bit index of a term (FNV-1a over its UTF-8 bytes). Sparse vectors
 * are keyed by it, so documents and queries agree without a shared vocabulary,
 * as Qdrant's BM25 sparse vectors do. Rare collisions only merge two terms.
 */
export function termIndex(term: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(term, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * The BM25 sparse encoder. The document side saturates term frequency and
 * normalises by length; the IDF factor is left to the store (Qdrant's `idf`
 * modifier), which sees the whole collection. The query side weights each
 * distinct term 1, so a query's score is the BM25 sum over its terms.
 */
export function createBm25Encoder(options: Bm25Options = {}): SparseEncoder {
  const k1 = options.k1 ?? 1.2;
  const b = options.b ?? 0.75;
  const averageLength = options.averageLength ?? 256;
  return {
    document(text) {
      const terms = tokenize(text);
      const frequencies = countByIndex(terms);
      const norm = k1 * (1 - b + (b * terms.length) / averageLength);
      return toSparse(frequencies, (tf) => (tf * (k1 + 1)) / (tf + norm));
    },
    query(text) {
      return toSparse(countByIndex(tokenize(text)), () => 1);
    },
  };
}

function countByIndex(terms: string[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const term of terms) {
    const index = termIndex(term);
    counts.set(index, (counts.get(index) ?? 0) + 1);
  }
  return counts;
}

function toSparse(counts: Map<number, number>, weight: (tf: number) => number): SparseVector {
  const indices = [...counts.keys()].sort((left, right) => left - right);
  return { indices, values: indices.map((index) => weight(counts.get(index)!)) };
}
