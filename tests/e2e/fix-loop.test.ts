import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { FailureCategory, MemoryService, TaskService, TaskState, Verdict } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSystem } from "../support/embedded.js";
import { generateChurnTask } from "../support/generate-tasks.js";

describe("the fix loop: a first program that fails, a second that succeeds", () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  beforeAll(async () => {
    system = await startTestSystem();
  });
  afterAll(async () => system?.stop());

  it("falls back from a library the runtime lacks, records both episodes, and a later task learns from it", async () => {
    const task = await generateChurnTask(await mkdtemp(path.join(os.tmpdir(), "mlzero-fix-")), 3, 800);
    const tasks = createClient(TaskService, system.addresses.gateway!);
    const memory = createClient(MemoryService, system.addresses.memory!);
    // xgboost is in the tool registry but deliberately not in the default runtime.
    const { task: submitted } = await tasks.submit({ spec: { inputUri: task.inputDir, budget: { toolHint: "xgboost" } } });
    let final;
    for await (const update of tasks.watch({ taskId: submitted!.taskId })) final = update.task;
    expect(final?.state, final?.message).toBe(TaskState.SUCCEEDED);
    expect(final!.iterations.map((iteration) => [iteration.tool, iteration.verdict, iteration.failure])).toEqual([
      ["xgboost", Verdict.FIX, FailureCategory.MISSING_MODULE],
      [final!.iterations[1]!.tool, Verdict.SUCCESS, FailureCategory.NONE],
    ]);
    expect(final!.iterations[1]!.tool).not.toBe("xgboost");

    const { episodes } = await memory.listEpisodes({ tenant: final!.tenant, taskId: final!.taskId });
    expect(episodes.map((episode) => episode.iteration)).toEqual([1, 2]);
    expect(episodes[0]).toMatchObject({ tool: "xgboost", verdict: Verdict.FIX, failure: FailureCategory.MISSING_MODULE });
    expect(episodes[0]!.analysis).toMatch(/xgboost/);
    expect(episodes[0]!.fix).not.toBe("");
    expect(episodes[0]!.program).toContain("import");
    expect(episodes[1]!.verdict).toBe(Verdict.SUCCESS);

    // The fix that worked became a lesson, with where it came from.
    const { lessons } = await memory.findLessons({ tenant: final!.tenant, tool: "xgboost", query: "No module named 'xgboost'" });
    expect(lessons).toMatchObject([
      { taskId: final!.taskId, iteration: 1, failure: FailureCategory.MISSING_MODULE, fix: { tool: final!.iterations[1]!.tool } },
    ]);

    // A second task that asks for the same tool gets that fix in its first
    // coder call, and succeeds in one iteration where the first needed two.
    const second = await generateChurnTask(await mkdtemp(path.join(os.tmpdir(), "mlzero-fix-")), 5, 800);
    const { task: again } = await tasks.submit({ spec: { inputUri: second.inputDir, budget: { toolHint: "xgboost" } } });
    let secondFinal;
    for await (const update of tasks.watch({ taskId: again!.taskId })) secondFinal = update.task;
    expect(secondFinal?.state, secondFinal?.message).toBe(TaskState.SUCCEEDED);
    expect(secondFinal!.iterations.map((iteration) => [iteration.tool, iteration.verdict])).toEqual([
      [final!.iterations[1]!.tool, Verdict.SUCCESS],
    ]);
    expect(secondFinal!.iterations.length).toBeLessThan(final!.iterations.length);
    const program = await readFile(path.join(secondFinal!.outputDir, "program.py"), "utf8");
    expect(program).toContain(`# Lesson from task ${final!.taskId} (iteration 1): xgboost failed (MISSING_MODULE)`);
    tasks.close();
    memory.close();
  }, 300_000);
});
