import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { beforeEach, describe, expect, it } from "vitest";
import { EpisodeSchema, FailureCategory, Verdict, type Episode } from "@mlzero/proto";
import { createBm25Encoder, createEmbeddedVectorStore, type VectorStore } from "@mlzero/vectors";
import { createEpisodicMemory, EPISODES_COLLECTION, type EpisodicMemory } from "./episodic-memory.js";
import { SPARSE_VECTOR } from "./semantic-memory.js";

function episode(init: Partial<Omit<Episode, "$typeName">>): Episode {
  return create(EpisodeSchema, { tenant: "acme", taskId: "task-1", iteration: 1, candidateId: "c0", tool: "lightgbm", ...init });
}

describe("episodic memory", () => {
  let store: VectorStore;
  let memory: EpisodicMemory;

  beforeEach(async () => {
    store = createEmbeddedVectorStore();
    memory = createEpisodicMemory({ store });
  });

  it("round-trips every field of an episode", async () => {
    const full = episode({
      program: "import lightgbm\nprint('hi')\n",
      verdict: Verdict.FIX,
      failure: FailureCategory.MISSING_MODULE,
      analysis: "ModuleNotFoundError: No module named 'lightgbm'",
      fix: "switch to sklearn",
      score: 0.8125,
      duration: durationFromMs(12_345),
      time: timestampFromMs(Date.UTC(2026, 0, 2, 3, 4, 5)),
    });
    await memory.record(full);
    expect(await memory.list("acme", "task-1")).toEqual([full]);
  });

  it("keeps an absent score absent", async () => {
    await memory.record(episode({}));
    const [listed] = await memory.list("acme", "task-1");
    expect(listed!.score).toBeUndefined();
  });

  it("lists a task's episodes by iteration, then candidate, and only that task's", async () => {
    const recorded = [
      episode({ iteration: 3, candidateId: "a" }),
      episode({ iteration: 1, candidateId: "b" }),
      episode({ iteration: 1, candidateId: "a" }),
      episode({ iteration: 2, candidateId: "a" }),
    ];
    for (const entry of recorded) await memory.record(entry);
    await memory.record(episode({ taskId: "task-2" }));
    await memory.record(episode({ tenant: "other" }));
    const listed = await memory.list("acme", "task-1");
    expect(listed.map((entry) => `${entry.iteration}${entry.candidateId}`)).toEqual(["1a", "1b", "2a", "3a"]);
    expect(await memory.list("other", "task-1")).toHaveLength(1);
    expect(await memory.list("acme", "task-3")).toEqual([]);
  });

  it("is idempotent on (tenant, task, iteration, candidate): a re-record replaces", async () => {
    await memory.record(episode({ verdict: Verdict.FIX, analysis: "first" }));
    await memory.record(episode({ verdict: Verdict.SUCCESS, analysis: "second", score: 0.9 }));
    const listed = await memory.list("acme", "task-1");
    expect(listed).toHaveLength(1);
    expect(listed[0]!.analysis).toBe("second");
    expect(await store.count(EPISODES_COLLECTION)).toBe(1);
  });

  it("pages through many episodes", async () => {
    for (let iteration = 1; iteration <= 300; iteration++) await memory.record(episode({ iteration }));
    const listed = await memory.list("acme", "task-1");
    expect(listed).toHaveLength(300);
    expect(listed.at(-1)!.iteration).toBe(300);
  });

  it("indexes the analysis and fix for search across tasks", async () => {
    await memory.record(episode({ taskId: "a", analysis: "could not convert string to float: 'red'", fix: "one-hot encode strings" }));
    await memory.record(episode({ taskId: "b", analysis: "the run timed out", fix: "subsample rows" }));
    const found = await store.query(EPISODES_COLLECTION, {
      sparse: { using: SPARSE_VECTOR, vector: createBm25Encoder().query("convert string float") },
      limit: 5,
    });
    expect(found.map((hit) => hit.payload.task_id)).toEqual(["a"]);
    expect(found[0]!.payload).toMatchObject({ tenant: "acme", iteration: 1, failure: "UNSPECIFIED", verdict: "UNSPECIFIED" });
  });

  it("rejects an episode or a listing without tenant or task id", async () => {
    await expect(memory.record(episode({ taskId: "" }))).rejects.toMatchObject({ kind: "invalid_argument" });
    await expect(memory.record(episode({ tenant: "" }))).rejects.toMatchObject({ kind: "invalid_argument" });
    await expect(memory.list("acme", "")).rejects.toMatchObject({ kind: "invalid_argument" });
  });
});
