import { create } from "@bufbuild/protobuf";
import { AttemptSchema, FailureCategory, PerceptualContextSchema, Verdict, type Attempt } from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import type { FailureDiagnosis } from "./classify-failure.js";
import { decideNextStep, type NextStep, type NextStepInput } from "./decide-next-step.js";

const context = create(PerceptualContextSchema, {
  trainFile: "train.csv",
  testFile: "test.csv",
  labelColumn: "price",
  idColumn: "Id",
  tools: ["autogluon", "lightgbm", "xgboost", "sklearn"].map((name, index) => ({ name, score: 1 - index / 10 })),
  files: [
    { path: "train.csv", columns: ["Id", "LotArea", "age", "SalePrice"].map((name) => ({ name })) },
    { path: "test.csv", columns: ["Id", "LotArea", "age"].map((name) => ({ name })) },
  ],
  output: { fileName: "submission.csv", columns: ["Id", "SalePrice"], idColumn: "Id" },
});

function diagnosis(category: FailureCategory, extra: Partial<FailureDiagnosis> = {}): FailureDiagnosis {
  return { category, summary: `${FailureCategory[category]} happened (main.py line 3)`, ...extra };
}

/** Runs a whole sequence: each step fails with its category, and the decision picks the next tool. */
function sequence(first: string, failures: FailureDiagnosis[], maxIterations = 20): NextStep[] {
  const attempts: Attempt[] = [];
  const steps: NextStep[] = [];
  let tool = first;
  for (const [index, failure] of failures.entries()) {
    const step = decideNextStep({ diagnosis: failure, iteration: index + 1, tool, attempts: [...attempts], context, maxIterations });
    steps.push(step);
    attempts.push(
      create(AttemptSchema, {
        iteration: index + 1,
        tool,
        verdict: step.kind === "fix" ? Verdict.FIX : Verdict.GIVE_UP,
        failure: failure.category,
      }),
    );
    if (step.kind === "give_up") break;
    tool = step.fix.tool;
  }
  return steps;
}

/** A step as [tool, reduce level] for a fix, or the give-up reason. */
function summarize(step: NextStep): [string, number] | string {
  return step.kind === "fix" ? [step.fix.tool, step.fix.reduceLevel] : step.reason;
}

function input(overrides: Partial<NextStepInput>): NextStepInput {
  return {
    diagnosis: diagnosis(FailureCategory.RUNTIME_ERROR),
    iteration: 1,
    tool: "lightgbm",
    attempts: [],
    context,
    maxIterations: 10,
    ...overrides,
  };
}

const missing = (module: string) => diagnosis(FailureCategory.MISSING_MODULE, { module });

describe("decideNextStep", () => {
  it("moves to the next tool that can import after a missing module", () => {
    const steps = sequence("autogluon", [missing("autogluon"), missing("lightgbm"), missing("xgboost"), missing("sklearn")]);
    expect(steps.map(summarize)).toEqual([
      ["lightgbm", 0],
      ["xgboost", 0],
      ["sklearn", 0],
      "no tool is left to try after sklearn (module 'sklearn' is not installed)",
    ]);
    expect(steps[0]).toMatchObject({ fix: { plan: "Switch from autogluon to lightgbm: module 'autogluon' is not installed." } });
  });

  it("gives up when the platform cannot start a program: every tool runs in the same image", () => {
    const step = decideNextStep(input({ diagnosis: diagnosis(FailureCategory.PLATFORM, { summary: "The program never started." }) }));
    expect(step).toEqual({ kind: "give_up", reason: "The program never started." });
  });

  it("reduces twice after running out of memory or time, then changes tool", () => {
    const oom = diagnosis(FailureCategory.OUT_OF_MEMORY);
    const timeout = diagnosis(FailureCategory.TIMEOUT);
    const steps = sequence("lightgbm", [oom, timeout, oom, timeout]);
    expect(steps.map(summarize)).toEqual([
      ["lightgbm", 1],
      ["lightgbm", 2],
      ["xgboost", 0],
      ["xgboost", 1],
    ]);
    expect(steps[0]).toMatchObject({
      fix: { plan: "Run lightgbm again at reduce level 1 (less data, lighter models): it ran out of memory." },
    });
    expect(steps[2]).toMatchObject({ fix: { plan: "Switch from lightgbm to xgboost: it ran out of memory even at reduce level 2." } });
  });

  it("retries a bug once with the same tool, then moves on, until no tool is left", () => {
    const bug = diagnosis(FailureCategory.RUNTIME_ERROR);
    const steps = sequence("xgboost", [bug, bug, bug, bug]);
    expect(steps.map(summarize)).toEqual([
      ["xgboost", 0],
      ["sklearn", 0],
      ["sklearn", 0],
      expect.stringMatching(/^no tool is left to try after sklearn \(sklearn failed 2 times, last with: RUNTIME_ERROR happened/),
    ]);
    expect(steps[0]).toMatchObject({ fix: { plan: "Fix the xgboost program: RUNTIME_ERROR happened (main.py line 3)" } });
  });

  it("keeps the reduce level a tool reached when it then fails for another reason", () => {
    const steps = sequence("lightgbm", [
      diagnosis(FailureCategory.OUT_OF_MEMORY),
      diagnosis(FailureCategory.TYPE_ERROR),
      diagnosis(FailureCategory.SHAPE_MISMATCH),
    ]);
    expect(steps.map(summarize)).toEqual([
      ["lightgbm", 1],
      ["lightgbm", 1],
      ["xgboost", 0],
    ]);
    expect(steps[1]).toMatchObject({ fix: { plan: expect.stringMatching(/^Fix the column types in the lightgbm program/) } });
  });

  it("skips tools that already failed to import when switching", () => {
    const attempts = [
      create(AttemptSchema, { iteration: 1, tool: "xgboost", failure: FailureCategory.MISSING_MODULE, verdict: Verdict.FIX }),
    ];
    const step = decideNextStep(input({ iteration: 3, attempts, diagnosis: diagnosis(FailureCategory.SYNTAX_ERROR), tool: "lightgbm" }));
    expect(summarize(step)).toEqual(["lightgbm", 0]);
    const again = decideNextStep(
      input({
        iteration: 3,
        attempts: [...attempts, create(AttemptSchema, { iteration: 2, tool: "lightgbm", failure: FailureCategory.DATA_ERROR })],
        tool: "lightgbm",
      }),
    );
    expect(summarize(again)).toEqual(["sklearn", 0]);
  });

  it("starts from the top of the ranking when the tool was not ranked (a hint)", () => {
    expect(summarize(decideNextStep(input({ tool: "catboost", diagnosis: missing("catboost") })))).toEqual(["autogluon", 0]);
  });

  it("points at the real label column when the label is not in the training data", () => {
    const step = decideNextStep(input({ diagnosis: diagnosis(FailureCategory.BAD_COLUMN, { columns: ["price"] }) }));
    expect(step).toMatchObject({
      kind: "fix",
      fix: {
        tool: "lightgbm",
        labelColumn: "SalePrice",
        plan: "Use 'SalePrice' as the label column: 'price' is not a column of the training data.",
      },
    });
  });

  it("names the column a program got wrong and the one the data has", () => {
    const step = decideNextStep(input({ diagnosis: diagnosis(FailureCategory.BAD_COLUMN, { columns: ["Age"] }) }));
    expect(step).toMatchObject({
      kind: "fix",
      fix: {
        tool: "lightgbm",
        labelColumn: "",
        plan: "Use only columns the data has in the lightgbm program: 'Age' does not exist, the data has 'age'; the training data has: Id, LotArea, age, SalePrice",
      },
    });
  });

  it("gives up when the iterations or the time are used, or the task was cancelled", () => {
    expect(decideNextStep(input({ iteration: 5, maxIterations: 5 }))).toEqual({
      kind: "give_up",
      reason: "all 5 iterations of the budget are used",
    });
    expect(decideNextStep(input({ secondsLeft: 9.7 }))).toEqual({ kind: "give_up", reason: "only 9 s are left before the deadline" });
    expect(decideNextStep(input({ secondsLeft: 600 })).kind).toBe("fix");
    expect(decideNextStep(input({ diagnosis: diagnosis(FailureCategory.CANCELLED) }))).toEqual({
      kind: "give_up",
      reason: "the task was cancelled",
    });
  });

  it("keeps plans on one bounded line", () => {
    const summary = `ValueError: ${"x".repeat(1000)}\nsecond line`;
    const step = decideNextStep(input({ diagnosis: { category: FailureCategory.RUNTIME_ERROR, summary } }));
    expect(step.kind === "fix" && step.fix.plan).toMatch(/^Fix the lightgbm program: ValueError: x+\.\.\.$/);
    expect(step.kind === "fix" && step.fix.plan.length).toBe(400);
  });
});
