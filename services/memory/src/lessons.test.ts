import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { EpisodeSchema, FailureCategory, FindLessonsRequestSchema, FixSchema, Verdict, type Episode } from "@mlzero/proto";
import { createEmbeddedVectorStore } from "@mlzero/vectors";
import { beforeEach, describe, expect, it } from "vitest";
import { createLessonMemory, type LessonMemory } from "./lessons.js";

function episode(init: Partial<Omit<Episode, "$typeName">>): Episode {
  return create(EpisodeSchema, { tenant: "acme", taskId: "task-1", iteration: 1, candidateId: "c", tool: "xgboost", ...init });
}

/** A task whose first program failed and whose fix made the second succeed. */
function fixedTask(
  taskId: string,
  failure: FailureCategory,
  analysis: string,
  fixTool: string,
  tenant = "acme",
  timeMs = 1_000,
): Episode[] {
  return [
    episode({
      tenant,
      taskId,
      verdict: Verdict.FIX,
      failure,
      analysis,
      nextFix: create(FixSchema, { tool: fixTool, plan: `Switch from xgboost to ${fixTool}.` }),
    }),
    episode({
      tenant,
      taskId,
      iteration: 2,
      tool: fixTool,
      verdict: Verdict.SUCCESS,
      failure: FailureCategory.NONE,
      score: 0.9,
      time: timestampFromMs(timeMs),
    }),
  ];
}

const find = (init: Partial<Omit<ReturnType<typeof create<typeof FindLessonsRequestSchema>>, "$typeName">>) =>
  create(FindLessonsRequestSchema, { tenant: "acme", ...init });

describe("lessons", () => {
  let lessons: LessonMemory;
  beforeEach(() => {
    lessons = createLessonMemory({ store: createEmbeddedVectorStore() });
  });

  it("learns a fix that led to a success, with where it was learned", async () => {
    const episodes = fixedTask("task-1", FailureCategory.MISSING_MODULE, "ModuleNotFoundError: No module named 'xgboost'", "lightgbm");
    const lesson = await lessons.learn(episodes[1]!, episodes);
    expect(lesson).toMatchObject({
      tenant: "acme",
      taskId: "task-1",
      iteration: 1,
      tool: "xgboost",
      failure: FailureCategory.MISSING_MODULE,
      analysis: "ModuleNotFoundError: No module named 'xgboost'",
      fix: { tool: "lightgbm", plan: "Switch from xgboost to lightgbm." },
      score: 0.9,
    });
    expect(await lessons.find(find({ tool: "xgboost" }))).toEqual([lesson]);
    // Learning the same success again keeps one lesson.
    await lessons.learn(episodes[1]!, episodes);
    expect(await lessons.find(find({}))).toHaveLength(1);
  });

  it("learns nothing from a failure, a first-iteration success, or a success that no fix led to", async () => {
    const [failed, succeeded] = fixedTask("task-1", FailureCategory.MISSING_MODULE, "No module named 'xgboost'", "lightgbm");
    expect(await lessons.learn(failed!, [failed!])).toBeUndefined();
    expect(await lessons.learn(episode({ verdict: Verdict.SUCCESS }), [])).toBeUndefined();
    const gaveUpBefore = episode({ verdict: Verdict.GIVE_UP });
    expect(await lessons.learn(succeeded!, [gaveUpBefore, succeeded!])).toBeUndefined();
    expect(await lessons.find(find({}))).toEqual([]);
  });

  it("finds the lesson for a failure like the one at hand: same tool and category, similar words, another task, same tenant", async () => {
    const learn = async (episodes: Episode[]) => lessons.learn(episodes.at(-1)!, episodes);
    await learn(fixedTask("task-1", FailureCategory.MISSING_MODULE, "ModuleNotFoundError: No module named 'xgboost'", "lightgbm"));
    await learn(fixedTask("task-2", FailureCategory.BAD_COLUMN, "KeyError: 'price' not in index", "sklearn", "acme", 2_000));
    await learn(fixedTask("task-3", FailureCategory.MISSING_MODULE, "No module named 'xgboost'", "autogluon", "other-tenant"));

    const byWords = await lessons.find(find({ query: "No module named xgboost", excludeTaskId: "task-9" }));
    expect(byWords[0]).toMatchObject({ taskId: "task-1", fix: { tool: "lightgbm" } });
    expect(byWords[0]!.relevance).toBeGreaterThan(0);
    expect(byWords.map((lesson) => lesson.tenant)).not.toContain("other-tenant");
    expect(await lessons.find(find({ failure: FailureCategory.BAD_COLUMN }))).toMatchObject([{ taskId: "task-2" }]);
    expect(await lessons.find(find({ tool: "xgboost", excludeTaskId: "task-1", failure: FailureCategory.MISSING_MODULE }))).toEqual([]);
    // Without a query, newest first.
    expect((await lessons.find(find({}))).map((lesson) => lesson.taskId)).toEqual(["task-2", "task-1"]);
    await expect(lessons.find(find({ tenant: "" }))).rejects.toThrow(/needs a tenant/);
  });
});
