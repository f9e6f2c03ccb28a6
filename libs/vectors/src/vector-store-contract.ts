import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { uuidV5 } from "./uuid-v5.js";
import type { CollectionSpec, Point, SparseVector, VectorStore } from "./vector-store.js";

const SPEC: CollectionSpec = {
  dense: { embedding: { size: 3, distance: "Cosine" } },
  sparse: { terms: { idf: true } },
  // Fields the tests below filter on: every store accepts the declaration, and Qdrant filters through the indexes.
  payloadIndexes: { "meta.tenant": { type: "keyword", isTenant: true }, iteration: { type: "integer" }, keep: { type: "bool" } },
};

const id = (name: string): string => uuidV5(`contract/${name}`);

function sparse(entries: Record<number, number>): SparseVector {
  const indices = Object.keys(entries).map(Number);
  return { indices, values: indices.map((index) => entries[index]!) };
}

function point(name: string, payload: Point["payload"], vector: Point["vector"] = {}): Point {
  return { id: id(name), vector, payload: { name, ...payload } };
}

/** Options of {@link describeVectorStoreContract}. */
export interface VectorStoreContractOptions {
  /** Start of every collection name the suite creates (default "contract"), so a run on a shared server can find its own. */
  collectionPrefix?: string;
}

/**
 * The behaviour every VectorStore implementation must share. The embedded
 * store runs it always; the Qdrant adapter runs it when a server is at hand,
 * so both stores answer the memory service identically.
 */
export function describeVectorStoreContract(
  name: string,
  makeStore: () => VectorStore | Promise<VectorStore>,
  options: VectorStoreContractOptions = {},
): void {
  const prefix = options.collectionPrefix ?? "contract";
  describe(`VectorStore contract: ${name}`, () => {
    let store: VectorStore;
    let collection: string;
    let counter = 0;

    beforeEach(async () => {
      store = await makeStore();
      collection = `${prefix}_${process.pid}_${Date.now()}_${counter++}`;
      await store.ensureCollection(collection, SPEC);
    });

    afterEach(async () => {
      await store.deleteCollection(collection);
    });

    const names = (points: { payload: Point["payload"] }[]): unknown[] => points.map((hit) => hit.payload.name);

    it("creates a collection idempotently, payload indexes or not, and refuses conflicting vectors", async () => {
      await store.ensureCollection(collection, SPEC);
      await store.ensureCollection(collection, { sparse: { terms: { idf: true } }, dense: { embedding: { size: 3, distance: "Cosine" } } });
      await expect(store.ensureCollection(collection, { sparse: { terms: { idf: false } } })).rejects.toMatchObject({
        kind: "failed_precondition",
      });
    });

    it("answers not_found for a missing collection", async () => {
      await expect(store.count(`${collection}_missing`)).rejects.toMatchObject({ kind: "not_found" });
      await expect(store.upsert(`${collection}_missing`, [point("a", {})])).rejects.toMatchObject({ kind: "not_found" });
    });

    it("rejects points Qdrant would reject", async () => {
      await expect(store.upsert(collection, [{ id: "not-a-uuid", vector: {}, payload: {} }])).rejects.toMatchObject({
        kind: "invalid_argument",
      });
      await expect(store.upsert(collection, [point("a", {}, { embedding: [1, 2] })])).rejects.toMatchObject({ kind: "invalid_argument" });
      await expect(store.upsert(collection, [point("a", {}, { unknown: [1, 2, 3] })])).rejects.toMatchObject({ kind: "invalid_argument" });
      await expect(store.upsert(collection, [point("a", {}, { terms: { indices: [1, 1], values: [1, 2] } })])).rejects.toMatchObject({
        kind: "invalid_argument",
      });
      expect(await store.count(collection)).toBe(0);
    });

    it("upserts by id, replacing the payload and vectors of an existing point", async () => {
      await store.upsert(collection, [point("a", { version: 1 }, { terms: sparse({ 7: 1 }) }), point("b", { version: 1 })]);
      await store.upsert(collection, [point("a", { version: 2 }, { terms: sparse({ 8: 1 }) })]);
      expect(await store.count(collection)).toBe(2);
      const { points } = await store.scroll(collection, { limit: 10, filter: { must: [{ key: "name", match: { value: "a" } }] } });
      expect(points).toEqual([point("a", { version: 2 }, { terms: sparse({ 8: 1 }) })]);
      const old = await store.query(collection, { sparse: { using: "terms", vector: sparse({ 7: 1 }) }, limit: 5 });
      expect(old).toEqual([]);
    });

    it("filters with match value, match any, must_not, arrays and dotted keys", async () => {
      await store.upsert(collection, [
        point("a", { tool: "lightgbm", kind: "tutorial", tags: ["errors", "basics"], meta: { tenant: "t1" } }),
        point("b", { tool: "sklearn", kind: "tutorial", tags: ["metrics"], meta: { tenant: "t2" } }),
        point("c", { tool: "lightgbm", kind: "template", tags: [], meta: { tenant: "t1" }, iteration: 3 }),
      ]);
      const count = (filter: Parameters<VectorStore["count"]>[1]): Promise<number> => store.count(collection, filter);
      expect(await count({ must: [{ key: "tool", match: { value: "lightgbm" } }] })).toBe(2);
      expect(
        await count({
          must: [
            { key: "tool", match: { value: "lightgbm" } },
            { key: "kind", match: { value: "tutorial" } },
          ],
        }),
      ).toBe(1);
      expect(await count({ must: [{ key: "tool", match: { any: ["sklearn", "xgboost"] } }] })).toBe(1);
      expect(await count({ must_not: [{ key: "kind", match: { value: "template" } }] })).toBe(2);
      expect(await count({ must: [{ key: "tags", match: { value: "errors" } }] })).toBe(1);
      expect(await count({ must: [{ key: "meta.tenant", match: { value: "t1" } }] })).toBe(2);
      expect(await count({ must: [{ key: "iteration", match: { value: 3 } }] })).toBe(1);
      expect(await count({ must: [{ key: "missing", match: { value: "x" } }] })).toBe(0);
    });

    it("deletes by filter", async () => {
      await store.upsert(collection, [point("a", { v: "old" }), point("b", { v: "new" }), point("c", { v: "old" })]);
      await store.delete(collection, { must_not: [{ key: "v", match: { value: "new" } }] });
      const { points } = await store.scroll(collection, { limit: 10 });
      expect(names(points)).toEqual(["b"]);
    });

    it("scrolls in id order, page by page", async () => {
      const all = ["a", "b", "c", "d", "e"].map((name) => point(name, {}));
      await store.upsert(collection, all);
      const expected = all.map((entry) => entry.id).sort();
      const seen: string[] = [];
      let offset: string | undefined;
      do {
        const page = await store.scroll(collection, { limit: 2, ...(offset ? { offset } : {}) });
        seen.push(...page.points.map((entry) => entry.id));
        offset = page.nextOffset;
      } while (offset);
      expect(seen).toEqual(expected);
    });

    it("scores sparse queries with IDF and returns only points sharing a term", async () => {
      const common = 11;
      const rare = 22;
      await store.upsert(collection, [
        point("common-1", {}, { terms: sparse({ [common]: 1 }) }),
        point("common-2", {}, { terms: sparse({ [common]: 1 }) }),
        point("rare", {}, { terms: sparse({ [rare]: 0.6 }) }),
        point("unrelated", {}, { terms: sparse({ 33: 5 }) }),
      ]);
      const hits = await store.query(collection, { sparse: { using: "terms", vector: sparse({ [common]: 1, [rare]: 1 }) }, limit: 10 });
      // Without IDF the common term (weight 1) would beat the rare one (0.6).
      expect(names(hits)).toEqual(["rare", ...["common-1", "common-2"].sort((l, r) => (id(l) < id(r) ? -1 : 1))]);
      expect(hits[0]!.score).toBeGreaterThan(hits[1]!.score);
      expect(hits[1]!.score).toBeCloseTo(Math.log(1 + (4 - 2 + 0.5) / (2 + 0.5)), 5);
    });

    it("ranks dense queries by cosine similarity", async () => {
      await store.upsert(collection, [
        point("x", {}, { embedding: [1, 0, 0] }),
        point("xy", {}, { embedding: [1, 1, 0] }),
        point("z", {}, { embedding: [0, 0, 5] }),
      ]);
      const hits = await store.query(collection, { dense: { using: "embedding", vector: [2, 0.1, 0] }, limit: 2 });
      expect(names(hits)).toEqual(["x", "xy"]);
      expect(hits[0]!.score).toBeCloseTo(2 / Math.hypot(2, 0.1), 5);
    });

    it("fuses dense and sparse with RRF so agreement beats a single first place", async () => {
      await store.upsert(collection, [
        point("sparse-best", {}, { terms: sparse({ 1: 3 }) }),
        point("both-good", {}, { terms: sparse({ 1: 2 }), embedding: [0.9, 0.1, 0] }),
        point("dense-best", {}, { terms: sparse({ 2: 1 }), embedding: [1, 0, 0] }),
      ]);
      const hits = await store.query(collection, {
        sparse: { using: "terms", vector: sparse({ 1: 1 }) },
        dense: { using: "embedding", vector: [1, 0, 0] },
        limit: 3,
      });
      expect(names(hits)[0]).toBe("both-good");
      expect(hits[0]!.score).toBeCloseTo(1 / 3 + 1 / 3, 5);
    });

    it("applies the filter before ranking and breaks ties by id", async () => {
      const tied = ["p", "q", "r", "s"].map((name) => point(name, { keep: name !== "s" }, { terms: sparse({ 5: 1 }) }));
      await store.upsert(collection, tied);
      const hits = await store.query(collection, {
        sparse: { using: "terms", vector: sparse({ 5: 1 }) },
        filter: { must: [{ key: "keep", match: { value: true } }] },
        limit: 10,
      });
      expect(hits.map((hit) => hit.id)).toEqual(
        tied
          .slice(0, 3)
          .map((entry) => entry.id)
          .sort(),
      );
      expect(new Set(hits.map((hit) => hit.score)).size).toBe(1);
    });

    it("honours the limit", async () => {
      await store.upsert(
        collection,
        ["a", "b", "c"].map((name) => point(name, {}, { embedding: [1, 1, 1] })),
      );
      expect(await store.query(collection, { dense: { using: "embedding", vector: [1, 0, 0] }, limit: 2 })).toHaveLength(2);
    });
  });
}
