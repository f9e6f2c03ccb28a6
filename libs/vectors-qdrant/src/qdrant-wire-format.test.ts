import { createServer, type IncomingMessage } from "node:http";
import { FailedPreconditionError, InvalidInputError, NotFoundError, ResourceExhaustedError, UnavailableError } from "@mlzero/errors";
import { uuidV5, type CollectionSpec, type VectorStore } from "@mlzero/vectors";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createQdrantVectorStore } from "./qdrant-vector-store.js";

interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  body: unknown;
}

interface Answer {
  status: number;
  body: unknown;
}

interface FakeQdrant {
  url: string;
  requests: RecordedRequest[];
  apiKeys: (string | undefined)[];
  /** Queues answers, given in order to the next requests. */
  answer(...answers: Answer[]): void;
  close(): Promise<void>;
}

/**
 * A fake Qdrant on 127.0.0.1: it records each request and gives the scripted
 * answers in order, in the response envelope of Qdrant's REST API. No Qdrant
 * logic runs here; the contract suite covers behaviour against a real server.
 */
async function startFakeQdrant(): Promise<FakeQdrant> {
  const requests: RecordedRequest[] = [];
  const apiKeys: (string | undefined)[] = [];
  const script: Answer[] = [];
  const server = createServer(async (request, response) => {
    const url = new URL(request.url ?? "/", "http://fake");
    requests.push({ method: request.method ?? "", path: url.pathname, query: url.search, body: await readJson(request) });
    apiKeys.push(request.headers["api-key"] as string | undefined);
    const answer = script.shift() ?? failure(500, "fake Qdrant: no answer scripted for this request");
    response.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    apiKeys,
    answer: (...answers) => script.push(...answers),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? (JSON.parse(text) as unknown) : undefined;
}

/** Qdrant's success envelope. */
function ok(result: unknown): Answer {
  return { status: 200, body: { result, status: "ok", time: 0.000_21 } };
}

/** Qdrant's ErrorResponse. */
function failure(status: number, error: string): Answer {
  return { status, body: { status: { error }, time: 0.000_05 } };
}

const completed = ok({ operation_id: 7, status: "completed" });

/** `GET /collections/{name}` as Qdrant answers it, trimmed to what a client may read. */
function collectionInfo(params: Record<string, unknown>, payloadSchema: Record<string, unknown> = {}): Answer {
  return ok({
    status: "green",
    optimizer_status: "ok",
    indexed_vectors_count: 0,
    points_count: 0,
    segments_count: 2,
    config: {
      params: { shard_number: 1, replication_factor: 1, write_consistency_factor: 1, on_disk_payload: true, ...params },
      hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000, max_indexing_threads: 0, on_disk: false },
      optimizer_config: { deleted_threshold: 0.2, vacuum_min_vector_number: 1000, default_segment_number: 0, flush_interval_sec: 5 },
      wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0 },
      quantization_config: null,
    },
    payload_schema: payloadSchema,
  });
}

const SPEC: CollectionSpec = {
  dense: { embedding: { size: 3, distance: "Cosine" } },
  sparse: { terms: { idf: true }, tags: { idf: false } },
  payloadIndexes: { tenant: { type: "keyword", isTenant: true }, iteration: { type: "integer" } },
};

/** How Qdrant reports SPEC's vectors back. */
const SPEC_PARAMS = {
  vectors: { embedding: { size: 3, distance: "Cosine" } },
  sparse_vectors: { terms: { modifier: "idf" }, tags: {} },
};

const TENANT_INDEX = { data_type: "keyword", params: { type: "keyword", is_tenant: true }, points: 0 };

const id = (name: string): string => uuidV5(`wire/${name}`);

describe("fake Qdrant: records each request and answers as the documented REST API does", () => {
  let fake: FakeQdrant;
  let store: VectorStore;

  beforeEach(async () => {
    fake = await startFakeQdrant();
    store = createQdrantVectorStore({ url: fake.url });
  });

  afterEach(async () => {
    await fake.close();
  });

  describe("ensureCollection", () => {
    it("creates a missing collection with named dense and sparse vectors, then its payload indexes", async () => {
      fake.answer(failure(404, "Not found: Collection `docs` doesn't exist!"), ok(true), completed, completed);
      await store.ensureCollection("docs", SPEC);
      expect(fake.requests).toEqual([
        { method: "GET", path: "/collections/docs", query: "", body: undefined },
        {
          method: "PUT",
          path: "/collections/docs",
          query: "",
          body: {
            vectors: { embedding: { size: 3, distance: "Cosine" } },
            sparse_vectors: { terms: { modifier: "idf" }, tags: {} },
          },
        },
        {
          method: "PUT",
          path: "/collections/docs/index",
          query: "?wait=true",
          body: { field_name: "tenant", field_schema: { type: "keyword", is_tenant: true } },
        },
        {
          method: "PUT",
          path: "/collections/docs/index",
          query: "?wait=true",
          body: { field_name: "iteration", field_schema: { type: "integer" } },
        },
      ]);
    });

    it("accepts an existing collection with the same vectors and creates only the indexes it lacks", async () => {
      fake.answer(collectionInfo(SPEC_PARAMS, { tenant: TENANT_INDEX }), completed);
      await store.ensureCollection("docs", SPEC);
      expect(fake.requests.map(({ method, path, body }) => [method, path, body])).toEqual([
        ["GET", "/collections/docs", undefined],
        ["PUT", "/collections/docs/index", { field_name: "iteration", field_schema: { type: "integer" } }],
      ]);
    });

    it("refuses an existing collection whose vectors differ, naming each difference, and changes nothing", async () => {
      fake.answer(
        collectionInfo({ vectors: { embedding: { size: 384, distance: "Dot" } }, sparse_vectors: { terms: {} } }, { tenant: TENANT_INDEX }),
      );
      const attempt = store.ensureCollection("docs", SPEC);
      await expect(attempt).rejects.toThrow(FailedPreconditionError);
      await expect(attempt).rejects.toThrow(
        'collection "docs" exists with different vectors: ' +
          'dense vector "embedding" is size 384 Dot, the spec wants size 3 Cosine; ' +
          'sparse vector "tags" is missing, the spec wants it unweighted; ' +
          'sparse vector "terms" is unweighted, the spec wants idf-weighted',
      );
      expect(fake.requests).toHaveLength(1);
    });

    it("refuses an existing payload index of another kind, naming the field", async () => {
      fake.answer(collectionInfo(SPEC_PARAMS, { tenant: { data_type: "keyword", params: { type: "keyword" }, points: 12 } }));
      await expect(store.ensureCollection("docs", SPEC)).rejects.toThrow(
        new FailedPreconditionError('collection "docs" has payload index "tenant" as keyword, the spec wants keyword (tenant)'),
      );
      expect(fake.requests).toHaveLength(1);
    });

    it("checks the collection another process created first (409) instead of failing", async () => {
      fake.answer(
        failure(404, "Not found: Collection `docs` doesn't exist!"),
        failure(409, "Wrong input: Collection `docs` already exists!"),
        collectionInfo(SPEC_PARAMS, { tenant: TENANT_INDEX, iteration: { data_type: "integer", points: 0 } }),
      );
      await store.ensureCollection("docs", SPEC);
      expect(fake.requests.map(({ method, path }) => `${method} ${path}`)).toEqual([
        "GET /collections/docs",
        "PUT /collections/docs",
        "GET /collections/docs",
      ]);
    });

    it("refuses a collection with one unnamed vector", async () => {
      fake.answer(collectionInfo({ vectors: { size: 3, distance: "Cosine" } }));
      await expect(store.ensureCollection("docs", SPEC)).rejects.toThrow(/one unnamed vector/);
    });
  });

  it("upserts points with their named vectors and payloads, waiting until applied", async () => {
    fake.answer(completed);
    await store.upsert("docs", [
      { id: id("a"), vector: { embedding: [0.1, 0.2, 0.3], terms: { indices: [4, 9], values: [1, 2] } }, payload: { tenant: "t1", n: 1 } },
      { id: id("b"), vector: {}, payload: { tenant: "t2", tags: ["x"], meta: { deep: null } } },
    ]);
    expect(fake.requests).toEqual([
      {
        method: "PUT",
        path: "/collections/docs/points",
        query: "?wait=true",
        body: {
          points: [
            {
              id: id("a"),
              vector: { embedding: [0.1, 0.2, 0.3], terms: { indices: [4, 9], values: [1, 2] } },
              payload: { tenant: "t1", n: 1 },
            },
            { id: id("b"), vector: {}, payload: { tenant: "t2", tags: ["x"], meta: { deep: null } } },
          ],
        },
      },
    ]);
  });

  it("fuses dense and sparse with RRF over two filtered prefetches, and maps the hits back", async () => {
    fake.answer(
      ok({
        points: [
          { id: id("a"), version: 3, score: 0.8333333, payload: { tenant: "t1", n: 1 } },
          { id: id("b"), version: 5, score: 0.5, payload: { tenant: "t1", n: 2 } },
        ],
      }),
    );
    const hits = await store.query("docs", {
      sparse: { using: "terms", vector: { indices: [4], values: [1] } },
      dense: { using: "embedding", vector: [1, 0, 0] },
      filter: {
        must: [
          { key: "tenant", match: { value: "t1" } },
          { key: "iteration", match: { any: [1, 2] } },
        ],
        must_not: [{ key: "meta.kind", match: { value: "template" } }],
      },
      limit: 10,
    });
    const filter = {
      must: [
        { key: "tenant", match: { value: "t1" } },
        { key: "iteration", match: { any: [1, 2] } },
      ],
      must_not: [{ key: "meta.kind", match: { value: "template" } }],
    };
    expect(fake.requests).toEqual([
      {
        method: "POST",
        path: "/collections/docs/points/query",
        query: "",
        body: {
          prefetch: [
            { query: { indices: [4], values: [1] }, using: "terms", filter, limit: 40 },
            { query: [1, 0, 0], using: "embedding", filter, limit: 40 },
          ],
          query: { fusion: "rrf" },
          limit: 10,
          with_payload: true,
        },
      },
    ]);
    expect(hits).toEqual([
      { id: id("a"), score: 0.8333333, payload: { tenant: "t1", n: 1 } },
      { id: id("b"), score: 0.5, payload: { tenant: "t1", n: 2 } },
    ]);
  });

  it("searches one named vector with a plain nearest query", async () => {
    fake.answer(ok({ points: [{ id: id("a"), version: 1, score: 0.97, payload: {} }] }));
    const hits = await store.query("docs", { dense: { using: "embedding", vector: [0.5, 0.5, 0] }, limit: 3 });
    expect(fake.requests.map(({ method, path, body }) => [method, path, body])).toEqual([
      ["POST", "/collections/docs/points/query", { query: [0.5, 0.5, 0], using: "embedding", limit: 3, with_payload: true }],
    ]);
    expect(hits).toEqual([{ id: id("a"), score: 0.97, payload: {} }]);
  });

  it("scrolls page by page with offset and next_page_offset, vectors and payloads included", async () => {
    const [a, b, c] = [id("a"), id("b"), id("c")].sort();
    fake.answer(
      ok({
        points: [
          { id: a, payload: { tenant: "t1" }, vector: { terms: { indices: [4], values: [1] }, embedding: [1, 0, 0] } },
          { id: b, payload: { tenant: "t1" }, vector: {} },
        ],
        next_page_offset: c,
      }),
      ok({ points: [{ id: c, payload: { tenant: "t1", n: 3 }, vector: {} }], next_page_offset: null }),
    );
    const filter = { must: [{ key: "tenant", match: { value: "t1" } }] };
    const first = await store.scroll("docs", { limit: 2, filter });
    const second = await store.scroll("docs", { limit: 2, filter, offset: first.nextOffset! });
    expect(fake.requests.map(({ method, path, query, body }) => [method, path, query, body])).toEqual([
      ["POST", "/collections/docs/points/scroll", "", { limit: 2, filter, with_payload: true, with_vector: true }],
      ["POST", "/collections/docs/points/scroll", "", { limit: 2, offset: c, filter, with_payload: true, with_vector: true }],
    ]);
    expect(first).toEqual({
      points: [
        { id: a, vector: { terms: { indices: [4], values: [1] }, embedding: [1, 0, 0] }, payload: { tenant: "t1" } },
        { id: b, vector: {}, payload: { tenant: "t1" } },
      ],
      nextOffset: c,
    });
    expect(second).toEqual({ points: [{ id: c, vector: {}, payload: { tenant: "t1", n: 3 } }] });
  });

  it("counts exactly, with or without a filter", async () => {
    fake.answer(ok({ count: 7 }), ok({ count: 2 }));
    expect(await store.count("docs")).toBe(7);
    expect(await store.count("docs", { must_not: [{ key: "kind", match: { any: ["template", "note"] } }] })).toBe(2);
    expect(fake.requests.map(({ method, path, body }) => [method, path, body])).toEqual([
      ["POST", "/collections/docs/points/count", { exact: true }],
      [
        "POST",
        "/collections/docs/points/count",
        { filter: { must_not: [{ key: "kind", match: { any: ["template", "note"] } }] }, exact: true },
      ],
    ]);
  });

  it("deletes by filter, waiting until applied; an empty filter is every point, as in Qdrant", async () => {
    fake.answer(completed, completed);
    await store.delete("docs", { must: [{ key: "tenant", match: { value: "t1" } }] });
    await store.delete("docs", {});
    expect(fake.requests).toEqual([
      {
        method: "POST",
        path: "/collections/docs/points/delete",
        query: "?wait=true",
        body: { filter: { must: [{ key: "tenant", match: { value: "t1" } }] } },
      },
      { method: "POST", path: "/collections/docs/points/delete", query: "?wait=true", body: { filter: {} } },
    ]);
  });

  it("drops a collection, and a missing one is no error (Qdrant answers result: false)", async () => {
    fake.answer(ok(true), ok(false));
    await store.deleteCollection("docs");
    await store.deleteCollection("gone");
    expect(fake.requests).toEqual([
      { method: "DELETE", path: "/collections/docs", query: "", body: undefined },
      { method: "DELETE", path: "/collections/gone", query: "", body: undefined },
    ]);
  });

  it("sends the API key as the api-key header", async () => {
    // The client warns once that the key travels over plain http; expected here, on 127.0.0.1.
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      fake.answer(ok({ count: 0 }));
      await createQdrantVectorStore({ url: fake.url, apiKey: "secret" }).count("docs");
      expect(fake.apiKeys).toEqual(["secret"]);
    } finally {
      warn.mockRestore();
    }
  });

  describe("bad input and failures", () => {
    it("refuses ids that are not lowercase UUIDs without a request", async () => {
      for (const bad of ["not-a-uuid", id("a").toUpperCase(), 42 as unknown as string]) {
        await expect(store.upsert("docs", [{ id: bad, vector: {}, payload: {} }])).rejects.toThrow(
          new InvalidInputError(`point id ${JSON.stringify(bad)} in docs is not a lowercase UUID`),
        );
      }
      expect(fake.requests).toEqual([]);
    });

    it("refuses a query without vectors and limits below 1 without a request", async () => {
      await expect(store.query("docs", { limit: 5 })).rejects.toThrow(InvalidInputError);
      await expect(store.query("docs", { dense: { using: "embedding", vector: [1, 0, 0] }, limit: 0 })).rejects.toThrow(InvalidInputError);
      await expect(store.scroll("docs", { limit: 1.5 })).rejects.toThrow(InvalidInputError);
      expect(fake.requests).toEqual([]);
    });

    it("turns Qdrant's 4xx answers into invalid input or not found, with Qdrant's reason", async () => {
      fake.answer(
        failure(400, "Wrong input: Vector dimension error: expected dim: 3, got 2"),
        failure(422, "Validation error in JSON body: [points[0].vector.terms: must be unique]"),
        failure(404, "Not found: Collection `gone` doesn't exist!"),
      );
      const point = { id: id("a"), vector: { embedding: [1, 2] }, payload: {} };
      await expect(store.upsert("docs", [point])).rejects.toThrow(
        new InvalidInputError('upsert into collection "docs": Wrong input: Vector dimension error: expected dim: 3, got 2'),
      );
      await expect(store.upsert("docs", [point])).rejects.toThrow(InvalidInputError);
      await expect(store.count("gone")).rejects.toThrow(
        new NotFoundError('count collection "gone": Not found: Collection `gone` doesn\'t exist!'),
      );
    });

    it("turns rate limits, refused keys, server errors and an unreachable server into their kinds", async () => {
      fake.answer(
        failure(429, "Too many requests"),
        failure(403, "Forbidden: global access is required"),
        failure(503, "Service unavailable"),
      );
      await expect(store.count("docs")).rejects.toThrow(ResourceExhaustedError);
      await expect(store.count("docs")).rejects.toThrow(FailedPreconditionError);
      await expect(store.count("docs")).rejects.toThrow(UnavailableError);
      await fake.close();
      await expect(store.count("docs")).rejects.toThrow(
        new UnavailableError(`count collection "docs": cannot reach Qdrant at ${fake.url} (ECONNREFUSED)`),
      );
    });
  });
});
