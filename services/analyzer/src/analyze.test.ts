import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { FailureCategory, FindLessonsResponseSchema, ToolCandidateSchema, Verdict } from "@mlzero/proto";
import type { TaskWorkspace } from "@mlzero/workspace";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { analyze } from "./analyze.js";
import { analyzeRequest as request, titanicWorkspace, writeIteration as writeIterationOf } from "./test-fixtures.js";

let root: string;
let workspace: TaskWorkspace;

beforeEach(async () => {
  ({ root, workspace } = await titanicWorkspace("analyze-"));
  await mkdir(path.join(workspace.iterationDir(1), "outputs"), { recursive: true });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const deps = () => ({ workspace, defaultMaxIterations: 5 });
const writeIteration = (files: { predictions?: string; stdout?: string; stderr?: string }) => writeIterationOf(workspace, files);

describe("analyze", () => {
  it("accepts valid predictions and reads the score from anywhere in stdout.log", async () => {
    const training = Array.from({ length: 200 }, (_, index) => `iteration ${index} loss 0.5`).join("\n");
    await writeIteration({
      predictions: "PassengerId,Survived\n892,0\n893,1\n894,0\n",
      stdout: `MLZERO_RESULT {"metric": "accuracy", "score": 0.79}\n${training}\nMLZERO_RESULT {broken\n`,
    });
    const analysis = await analyze(request(), deps());
    expect(analysis).toMatchObject({
      verdict: Verdict.SUCCESS,
      failure: FailureCategory.NONE,
      score: 0.79,
      metric: "accuracy",
      predictionsPath: "iter-001/outputs/submission.csv",
      summary: "The program wrote valid predictions to iter-001/outputs/submission.csv; validation accuracy = 0.79.",
    });
    expect(analysis.fix).toBeUndefined();
    expect(analysis.checks).toHaveLength(8);
    expect(analysis.checks.at(-1)).toBe("PASS score: validation accuracy = 0.79");
  });

  it("succeeds without a score, and says so", async () => {
    await writeIteration({ predictions: "PassengerId,Survived\n892,0\n893,1\n894,0\n" });
    const analysis = await analyze(request(), deps());
    expect(analysis.verdict).toBe(Verdict.SUCCESS);
    expect(analysis.score).toBeUndefined();
    expect(analysis.metric).toBe("accuracy");
    expect(analysis.checks.at(-1)).toBe("SKIP score: no MLZERO_RESULT line in stdout.log");
  });

  it("asks for the predictions file when a clean exit wrote another", async () => {
    await writeIteration({});
    const analysis = await analyze(request({ result: { exitCode: 0, outputFiles: ["preds.csv"] } }), deps());
    expect(analysis).toMatchObject({
      verdict: Verdict.FIX,
      failure: FailureCategory.MISSING_OUTPUT,
      summary: "The program exited normally but did not write iter-001/outputs/submission.csv; it wrote only preds.csv.",
      fix: {
        tool: "autogluon",
        plan: expect.stringMatching(/^Make the autogluon program write outputs\/submission\.csv with columns \[PassengerId, Survived\]/),
      },
    });
    expect(analysis.checks).toEqual([
      "FAIL file: iter-001/outputs/submission.csv does not exist",
      "SKIP score: no MLZERO_RESULT line in stdout.log",
    ]);
  });

  it("names what is wrong with invalid predictions", async () => {
    await writeIteration({ predictions: "PassengerId,Survived\n892,0\n892,1\n894,\n" });
    const analysis = await analyze(request(), deps());
    expect(analysis.verdict).toBe(Verdict.FIX);
    expect(analysis.failure).toBe(FailureCategory.INVALID_OUTPUT);
    expect(analysis.summary).toBe(
      "The predictions in iter-001/outputs/submission.csv are invalid: ids: 1 test ids missing (893); 1 ids repeated (892); missing values: Survived has 1 missing or infinite values (rows 3).",
    );
    expect(analysis.predictionsPath).toBe("");
  });

  it("classifies a crash from stderr.log, beyond the tail in the result", async () => {
    const stderr = [
      "Traceback (most recent call last):",
      '  File "/data/acme/titanic/iter-001/main.py", line 4, in <module>',
      "    from autogluon.tabular import TabularPredictor",
      "ModuleNotFoundError: No module named 'autogluon'",
      "",
    ].join("\n");
    await writeIteration({ stderr });
    const analysis = await analyze(request({ result: { exitCode: 1, stderrTail: "" } }), deps());
    expect(analysis).toMatchObject({
      verdict: Verdict.FIX,
      failure: FailureCategory.MISSING_MODULE,
      summary: "Python module 'autogluon' is not available: ModuleNotFoundError: No module named 'autogluon' (main.py line 4)",
      fix: { tool: "lightgbm", reduceLevel: 0, plan: "Switch from autogluon to lightgbm: module 'autogluon' is not installed." },
      checks: [],
    });
  });

  it("takes the fix that worked for the same failure in an earlier task, and decides alone without one", async () => {
    await writeIteration({ stderr: "ModuleNotFoundError: No module named 'autogluon'\n" });
    const context = request().context!;
    context.tools.push(create(ToolCandidateSchema, { name: "sklearn" }));
    const asked: unknown[] = [];
    const lessons = {
      findLessons: async (find: unknown) => {
        asked.push(find);
        return create(FindLessonsResponseSchema, {
          lessons: [
            { taskId: "earlier", failure: FailureCategory.MISSING_MODULE, fix: { tool: "autogluon", plan: "Use autogluon." } },
            {
              taskId: "other",
              failure: FailureCategory.MISSING_MODULE,
              fix: { tool: "sklearn", plan: "Switch from autogluon to sklearn." },
            },
          ],
        });
      },
    };
    const failed = request({ context, result: { exitCode: 1 } });
    const learned = await analyze(failed, { ...deps(), lessons });
    // The first lesson would run the failing tool again: the next one is taken.
    expect(learned.fix).toMatchObject({
      tool: "sklearn",
      plan: "Switch from autogluon to sklearn (this fixed the same MISSING_MODULE failure of autogluon in task other).",
    });
    expect(asked).toEqual([
      expect.objectContaining({ tenant: "acme", tool: "autogluon", failure: FailureCategory.MISSING_MODULE, excludeTaskId: "titanic" }),
    ]);
    const unreachable = { findLessons: async () => Promise.reject(new Error("memory is down")) };
    expect((await analyze(failed, { ...deps(), lessons: unreachable })).fix?.tool).toBe("lightgbm");
  });

  it("falls back to the result's tails when the logs are not there", async () => {
    const analysis = await analyze(request({ result: { exitCode: 1, stderrTail: "MemoryError" } }), deps());
    expect(analysis.failure).toBe(FailureCategory.OUT_OF_MEMORY);
    expect(analysis.fix).toMatchObject({ tool: "autogluon", reduceLevel: 1 });
  });

  it("gives up when the iteration budget is used, counting 0 as the default", async () => {
    await writeIteration({ stderr: "RuntimeError: boom\n" });
    const failed = { exitCode: 1 };
    const byBudget = await analyze(request({ iteration: 1, budget: { maxIterations: 1 }, result: failed }), deps());
    expect(byBudget).toMatchObject({
      verdict: Verdict.GIVE_UP,
      failure: FailureCategory.RUNTIME_ERROR,
      summary: "RuntimeError: boom. Giving up: all 1 iterations of the budget are used.",
    });
    expect(byBudget.fix).toBeUndefined();
    const byDefault = await analyze(request({ budget: { maxIterations: 0 }, result: failed }), { workspace, defaultMaxIterations: 1 });
    expect(byDefault.verdict).toBe(Verdict.GIVE_UP);
  });

  it("gives up near the deadline only when the task has one", async () => {
    await writeIteration({ stderr: "RuntimeError: boom\n" });
    const nearDeadline = await analyze(
      request({ budget: { timeLimit: durationFromMs(600_000) }, secondsLeft: 4, result: { exitCode: 1 } }),
      deps(),
    );
    expect(nearDeadline.verdict).toBe(Verdict.GIVE_UP);
    expect(nearDeadline.summary).toMatch(/Giving up: only 4 s are left before the deadline\.$/);
    const noDeadline = await analyze(request({ secondsLeft: 0, result: { exitCode: 1 } }), deps());
    expect(noDeadline.verdict).toBe(Verdict.FIX);
  });

  it("gives up on a cancelled run without judging its outputs", async () => {
    await writeIteration({ predictions: "PassengerId,Survived\n892,0\n893,1\n894,0\n" });
    const analysis = await analyze(request({ result: { exitCode: -1, signal: "SIGTERM", cancelled: true } }), deps());
    expect(analysis).toMatchObject({ verdict: Verdict.GIVE_UP, failure: FailureCategory.CANCELLED, checks: [] });
  });

  it("rejects a request it cannot judge", async () => {
    await expect(analyze(request({ result: undefined }), deps())).rejects.toMatchObject({ kind: "invalid_argument" });
    await expect(analyze(request({ iteration: 0 }), deps())).rejects.toMatchObject({ kind: "invalid_argument" });
    const escaping = request();
    escaping.context!.output!.fileName = "../../../secrets.csv";
    await expect(analyze(escaping, deps())).rejects.toMatchObject({ kind: "invalid_argument" });
  });
});
