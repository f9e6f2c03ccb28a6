import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createEmbeddedVectorStore } from "./embedded-vector-store.js";
import { uuidV5 } from "./uuid-v5.js";
import { describeVectorStoreContract } from "./vector-store-contract.js";

const folders: string[] = [];
async function tempFolder(): Promise<string> {
  const folder = await mkdtemp(path.join(tmpdir(), "mlzero-vectors-"));
  folders.push(folder);
  return folder;
}
afterAll(async () => {
  await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
});

describeVectorStoreContract("embedded, in memory", () => createEmbeddedVectorStore());
describeVectorStoreContract("embedded, persisted", async () =>
  createEmbeddedVectorStore({ file: path.join(await tempFolder(), "store.json") }),
);

describe("embedded store persistence", () => {
  it("reloads collections, points and IDF statistics from its file", async () => {
    const file = path.join(await tempFolder(), "nested", "store.json");
    const spec = { sparse: { terms: { idf: true } } };
    const first = createEmbeddedVectorStore({ file });
    await first.ensureCollection("docs", spec);
    await first.upsert("docs", [
      { id: uuidV5("a"), vector: { terms: { indices: [1], values: [1] } }, payload: { name: "a", tags: ["x"] } },
      { id: uuidV5("b"), vector: { terms: { indices: [1, 2], values: [1, 1] } }, payload: { name: "b", tags: [] } },
      { id: uuidV5("c"), vector: {}, payload: { name: "c", tags: [] } },
    ]);
    await first.delete("docs", { must: [{ key: "name", match: { value: "c" } }] });
    const query = { sparse: { using: "terms", vector: { indices: [1, 2], values: [1, 1] } }, limit: 5 };
    const before = await first.query("docs", query);

    const second = createEmbeddedVectorStore({ file });
    await second.ensureCollection("docs", spec);
    expect(await second.count("docs")).toBe(2);
    expect(await second.query("docs", query)).toEqual(before);
    expect(await second.count("docs", { must: [{ key: "tags", match: { value: "x" } }] })).toBe(1);
    // Only the snapshot remains: every temporary file was renamed over it.
    expect(await readdir(path.dirname(file))).toEqual(["store.json"]);
  });

  it("keeps the order of concurrent writes", async () => {
    const file = path.join(await tempFolder(), "store.json");
    const store = createEmbeddedVectorStore({ file });
    await store.ensureCollection("c", {});
    await Promise.all(
      Array.from({ length: 20 }, (_, index) => store.upsert("c", [{ id: uuidV5(String(index)), vector: {}, payload: { index } }])),
    );
    const snapshot = JSON.parse(await readFile(file, "utf8")) as { collections: { c: { points: unknown[] } } };
    expect(snapshot.collections.c.points).toHaveLength(20);
  });

  it("refuses to start from a corrupt file, naming it", async () => {
    const file = path.join(await tempFolder(), "store.json");
    await writeFile(file, "{ not json");
    expect(() => createEmbeddedVectorStore({ file })).toThrow(file);
    await writeFile(file, JSON.stringify({ format: "other", collections: {} }));
    expect(() => createEmbeddedVectorStore({ file })).toThrow(expect.objectContaining({ kind: "failed_precondition" }));
  });
});
