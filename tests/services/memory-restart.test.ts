import { create } from "@bufbuild/protobuf";
import { EpisodeSchema, FailureCategory, FixSchema, KnowledgeKind, MemoryService, Verdict } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type Cluster } from "../support/cluster-harness.js";

// The memory service as its own process on the embedded store persisted to a
// file (MLZERO_MEMORY_STORE_FILE, as the cluster harness and `make up` set
// it): a kill -9 and a restart lose neither the corpus nor what it learned.

let cluster: Cluster | undefined;

beforeAll(async () => {
  cluster = await startCluster({ startAll: false });
  await cluster.start("memory");
});

afterAll(async () => {
  await cluster?.close();
});

describe("memory across a restart", () => {
  it("keeps the corpus index, every episode and every lesson after kill -9", async () => {
    const connect = () => createClient(MemoryService, cluster!.address("memory"));
    const before = connect();
    const episodes = [
      create(EpisodeSchema, {
        tenant: "acme",
        taskId: "task-1",
        iteration: 1,
        candidateId: "iter-001-xgboost",
        tool: "xgboost",
        verdict: Verdict.FIX,
        failure: FailureCategory.MISSING_MODULE,
        analysis: "Python module 'xgboost' is not available",
        nextFix: create(FixSchema, { tool: "lightgbm", plan: "Switch from xgboost to lightgbm." }),
      }),
      create(EpisodeSchema, {
        tenant: "acme",
        taskId: "task-1",
        iteration: 2,
        candidateId: "iter-002-lightgbm",
        tool: "lightgbm",
        verdict: Verdict.SUCCESS,
        failure: FailureCategory.NONE,
        score: 0.91,
      }),
    ];
    for (const episode of episodes) await before.recordEpisode({ episode });
    const query = { tenant: "acme", query: "could not convert string to float", kind: KnowledgeKind.TUTORIAL, limit: 5 };
    const hits = (await before.retrieve(query)).hits;
    const lessons = (await before.findLessons({ tenant: "acme", tool: "xgboost" })).lessons;
    expect(lessons).toMatchObject([{ taskId: "task-1", fix: { tool: "lightgbm" } }]);
    before.close();

    await cluster!.restart("memory");
    const after = connect();
    expect((await after.listEpisodes({ tenant: "acme", taskId: "task-1" })).episodes).toEqual(episodes);
    expect((await after.findLessons({ tenant: "acme", tool: "xgboost" })).lessons).toEqual(lessons);
    expect((await after.retrieve(query)).hits).toEqual(hits);
    // The restarted process found this corpus version in the file: nothing re-indexed.
    expect(cluster!.logTail("memory", 200)).toMatch(/"reindexed":false[^\n]*knowledge indexed/);
    after.close();
  }, 120_000);
});
