import { create } from "@bufbuild/protobuf";
import { CandidateKind, FailureCategory, FixSchema, PerceptualContextSchema, Verdict, type Candidate, type Fix } from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import { MIN_SECONDS_FOR_RUN } from "./decide-next-step.js";
import { bestNode, firstRound, nextRound, type SearchLimits, type SearchNode, type SearchStep } from "./search.js";

const TOOLS = ["autogluon", "lightgbm", "xgboost", "sklearn", "baseline"];

function contextOf(tools = TOOLS, greaterIsBetter = true) {
  return create(PerceptualContextSchema, {
    tools: tools.map((name, index) => ({ name, score: 1 - index / 10 })),
    metric: { name: greaterIsBetter ? "roc_auc" : "rmse", greaterIsBetter },
  });
}

const context = contextOf();

function limits(overrides: Partial<SearchLimits> = {}): SearchLimits {
  return { maxIterations: 10, parallelism: 3, improveRounds: 0, ...overrides };
}

function fix(tool: string, extra: Partial<Omit<Fix, "$typeName" | "tool">> = {}): Fix {
  return create(FixSchema, { tool, plan: `Use ${tool}.`, ...extra });
}

/** A successful node. */
function success(iteration: number, tool: string, score?: number, round = iteration): SearchNode {
  return {
    iteration,
    round,
    tool,
    kind: CandidateKind.NEW_TOOL,
    reduceLevel: 0,
    verdict: Verdict.SUCCESS,
    failure: FailureCategory.NONE,
    ...(score === undefined ? {} : { score }),
    summary: `iteration ${iteration} succeeded`,
  };
}

/** A failed node with the analyzer's fix (a FIX verdict), or none (GIVE_UP). */
function failed(
  iteration: number,
  tool: string,
  next: Fix | undefined,
  round = iteration,
  failure: FailureCategory = FailureCategory.RUNTIME_ERROR,
): SearchNode {
  return {
    iteration,
    round,
    tool,
    kind: CandidateKind.NEW_TOOL,
    reduceLevel: 0,
    verdict: next ? Verdict.FIX : Verdict.GIVE_UP,
    failure,
    ...(next ? { fix: next } : {}),
    summary: `${tool} failed in iteration ${iteration}`,
  };
}

type Planned = { kind: CandidateKind; iteration: number; round: number; parent: number; tool: string; reduceLevel: number };

/** The candidates of a round step, in a form easy to compare; throws on a finish. */
function planned(step: SearchStep): Planned[] {
  if (step.kind !== "round") throw new Error(`expected a round, got finish: ${step.reason}`);
  return step.candidates.map((candidate: Candidate) => ({
    kind: candidate.kind,
    iteration: candidate.iteration,
    round: candidate.round,
    parent: candidate.parentIteration,
    tool: candidate.fix?.tool ?? "",
    reduceLevel: candidate.fix?.reduceLevel ?? 0,
  }));
}

const { NEW_TOOL, DEBUG, IMPROVE } = CandidateKind;

describe("firstRound", () => {
  it("starts with perception's top tools, one per slot, every candidate knowing its round", () => {
    const step = firstRound(context, limits({ parallelism: 3 }));
    expect(planned(step)).toEqual([
      { kind: NEW_TOOL, iteration: 1, round: 1, parent: 0, tool: "autogluon", reduceLevel: 0 },
      { kind: NEW_TOOL, iteration: 2, round: 1, parent: 0, tool: "lightgbm", reduceLevel: 0 },
      { kind: NEW_TOOL, iteration: 3, round: 1, parent: 0, tool: "xgboost", reduceLevel: 0 },
    ]);
    expect(step).toMatchObject({ kind: "round", round: 1, reason: "trying the top 3 tools at once: autogluon, lightgbm, xgboost" });
    if (step.kind === "round") for (const candidate of step.candidates) expect(candidate.roundIterations).toEqual([1, 2, 3]);
  });

  it("runs one program in the single loop (parallelism 1, or 0 read as 1)", () => {
    for (const parallelism of [1, 0]) {
      const step = firstRound(context, limits({ parallelism }));
      expect(planned(step).map((candidate) => candidate.tool)).toEqual(["autogluon"]);
      expect(step.reason).toBe("trying autogluon");
    }
  });

  it("caps the round by the tools there are and by the iteration budget", () => {
    expect(planned(firstRound(contextOf(["lightgbm", "sklearn"]), limits({ parallelism: 4 }))).map((c) => c.tool)).toEqual([
      "lightgbm",
      "sklearn",
    ]);
    expect(planned(firstRound(context, limits({ parallelism: 4, maxIterations: 2 }))).map((c) => c.iteration)).toEqual([1, 2]);
  });

  it("finishes at once when no tool fits the task", () => {
    expect(firstRound(contextOf([]), limits())).toEqual({ kind: "finish", best: undefined, reason: "no tool fits this task" });
  });
});

describe("bestNode", () => {
  it("takes the best validation score whichever way the metric points", () => {
    const nodes = [success(1, "autogluon", 0.8), success(2, "lightgbm", 0.9), success(3, "sklearn", 0.85)];
    expect(bestNode(nodes, true)?.iteration).toBe(2);
    expect(bestNode(nodes, false)?.iteration).toBe(1);
  });

  it("prefers a reported score to none, a success to a failure, and the earlier of a tie", () => {
    expect(bestNode([success(1, "autogluon"), success(2, "lightgbm", 0.1)], true)?.iteration).toBe(2);
    expect(bestNode([success(1, "autogluon", 0.1), success(2, "lightgbm")], false)?.iteration).toBe(1);
    expect(bestNode([success(1, "autogluon"), success(2, "lightgbm")], true)?.iteration).toBe(1);
    expect(bestNode([success(1, "autogluon", 0.7), success(2, "lightgbm", 0.7)], true)?.iteration).toBe(1);
    expect(bestNode([success(2, "lightgbm", 0.7), success(1, "autogluon", 0.7)], false)?.iteration).toBe(1);
    expect(bestNode([{ ...failed(1, "autogluon", fix("autogluon")), score: 0.99 }, success(2, "lightgbm", 0.5)], true)?.iteration).toBe(2);
    expect(bestNode([failed(1, "autogluon", fix("autogluon"))], true)).toBeUndefined();
  });
});

describe("nextRound", () => {
  it("finishes with the best successful node of the round by validation score", () => {
    const nodes = [success(1, "autogluon", 0.91, 1), failed(2, "lightgbm", fix("lightgbm"), 1), success(3, "xgboost", 0.93, 1)];
    const step = nextRound(nodes, context, limits());
    expect(step).toMatchObject({ kind: "finish", best: { iteration: 3, tool: "xgboost" } });
    expect(step.reason).toBe("best of 2 successful programs (3 run): iteration 3 with xgboost (validation roc_auc 0.93)");
  });

  it("takes the lowest score when lower is better", () => {
    const nodes = [success(1, "autogluon", 120, 1), success(2, "lightgbm", 105, 1), success(3, "xgboost", 130, 1)];
    expect(nextRound(nodes, contextOf(TOOLS, false), limits())).toMatchObject({ kind: "finish", best: { iteration: 2 } });
    expect(nextRound(nodes, contextOf(TOOLS, true), limits())).toMatchObject({ kind: "finish", best: { iteration: 3 } });
  });

  it("prefers a scored success to an unscored one, and the earlier of two equal scores", () => {
    const unscoredFirst = [success(1, "autogluon", undefined, 1), success(2, "lightgbm", 0.5, 1)];
    expect(nextRound(unscoredFirst, context, limits())).toMatchObject({ best: { iteration: 2 } });
    const tie = [success(1, "autogluon", 0.8, 1), success(2, "lightgbm", 0.8, 1), success(3, "xgboost", 0.8, 1)];
    expect(nextRound(tie, context, limits())).toMatchObject({ best: { iteration: 1 } });
    expect(nextRound(tie, contextOf(TOOLS, false), limits())).toMatchObject({ best: { iteration: 1 } });
  });

  it("says so when the only run succeeded", () => {
    expect(nextRound([success(1, "autogluon", 0.9)], context, limits({ parallelism: 1 }))).toEqual({
      kind: "finish",
      best: success(1, "autogluon", 0.9),
      reason: "succeeded in iteration 1 with autogluon",
    });
  });

  describe("LLM budget", () => {
    const llm = { tokens: 0, maxTokens: 0, costUsd: 0, maxCostUsd: 0 };
    const failedRound = [failed(1, "autogluon", fix("autogluon"), 1), failed(2, "lightgbm", fix("lightgbm"), 1)];

    it("finishes with no program when the tokens are used up before any succeeded", () => {
      const step = nextRound(failedRound, context, limits({ llm: { ...llm, tokens: 1000, maxTokens: 1000 } }));
      expect(step).toEqual({
        kind: "finish",
        best: undefined,
        reason: "the LLM token budget is used up (1000 of 1000 tokens); no program had succeeded",
      });
    });

    it("finishes with the best so far when the cost is used up, even with improvement rounds left", () => {
      const nodes = [...failedRound, success(3, "xgboost", 0.7, 1)];
      const step = nextRound(nodes, context, limits({ improveRounds: 2, llm: { ...llm, costUsd: 0.51, maxCostUsd: 0.5 } }));
      expect(step).toMatchObject({ kind: "finish", best: { iteration: 3 } });
      expect(step.reason).toBe(
        "the LLM cost budget is used up ($0.5100 of $0.5000); best so far: iteration 3 with xgboost (validation roc_auc 0.7)",
      );
    });

    it("goes on while the budget lasts (0: no limit)", () => {
      expect(nextRound(failedRound, context, limits({ llm: { ...llm, tokens: 999, maxTokens: 1000 } })).kind).toBe("round");
      expect(nextRound(failedRound, context, limits({ llm: { ...llm, tokens: 10 ** 9, costUsd: 99 } })).kind).toBe("round");
    });
  });

  it("gives up when the platform cannot start a program: every tool runs in the same image", () => {
    const nodes = [
      failed(1, "autogluon", fix("autogluon"), 1),
      failed(2, "lightgbm", undefined, 1, FailureCategory.PLATFORM),
      failed(3, "xgboost", fix("sklearn"), 1),
    ];
    expect(nextRound(nodes, context, limits())).toEqual({
      kind: "finish",
      best: undefined,
      reason: "gave up after 3 iteration(s): lightgbm failed in iteration 2",
    });
  });

  it("gives up when the iterations are used up or the deadline is too near", () => {
    const nodes = [failed(1, "autogluon", fix("autogluon"), 1), failed(2, "lightgbm", fix("lightgbm"), 1)];
    expect(nextRound(nodes, context, limits({ maxIterations: 2 }))).toEqual({
      kind: "finish",
      best: undefined,
      reason: "gave up after 2 iteration(s): all 2 iterations of the budget are used",
    });
    expect(nextRound(nodes, context, limits({ secondsLeft: MIN_SECONDS_FOR_RUN - 0.5 }))).toEqual({
      kind: "finish",
      best: undefined,
      reason: `gave up after 2 iteration(s): only ${MIN_SECONDS_FOR_RUN - 1} s are left before the deadline`,
    });
    expect(nextRound(nodes, context, limits({ secondsLeft: -3 })).reason).toMatch(/only 0 s are left/);
    expect(nextRound(nodes, context, limits({ secondsLeft: MIN_SECONDS_FOR_RUN })).kind).toBe("round");
  });

  it("debugs a failed node whose fix keeps its tool, with the fix's reduce level and label column", () => {
    const nodes = [
      failed(1, "autogluon", fix("autogluon", { reduceLevel: 1, plan: "Less data." }), 1, FailureCategory.OUT_OF_MEMORY),
      failed(2, "lightgbm", fix("", { labelColumn: "target", plan: "Use target." }), 1, FailureCategory.BAD_COLUMN),
      failed(3, "xgboost", fix("sklearn"), 1, FailureCategory.MISSING_MODULE),
    ];
    const step = nextRound(nodes, context, limits());
    expect(planned(step)).toEqual([
      { kind: DEBUG, iteration: 4, round: 2, parent: 1, tool: "autogluon", reduceLevel: 1 },
      { kind: DEBUG, iteration: 5, round: 2, parent: 2, tool: "lightgbm", reduceLevel: 0 },
      { kind: NEW_TOOL, iteration: 6, round: 2, parent: 3, tool: "sklearn", reduceLevel: 0 },
    ]);
    if (step.kind !== "round") return;
    expect(step.candidates[0]!.fix).toMatchObject({ plan: "Less data." });
    // An empty tool in the fix keeps the node's own.
    expect(step.candidates[1]!.fix).toMatchObject({ tool: "lightgbm", labelColumn: "target", plan: "Use target." });
    for (const candidate of step.candidates) expect(candidate.roundIterations).toEqual([4, 5, 6]);
    expect(step.reason).toBe("round 2: debug autogluon, debug lightgbm, new tool sklearn");
  });

  it("turns a switch to a tool another node already ran into the next untried tool", () => {
    // lightgbm's fix names autogluon, which node 1 ran: it becomes sklearn, the first tool no node has tried.
    const nodes = [
      failed(1, "autogluon", fix("autogluon"), 1),
      failed(2, "lightgbm", fix("autogluon"), 1),
      failed(3, "xgboost", fix("lightgbm"), 1, FailureCategory.MISSING_MODULE),
    ];
    const step = nextRound(nodes, context, limits());
    expect(planned(step)).toEqual([
      { kind: DEBUG, iteration: 4, round: 2, parent: 1, tool: "autogluon", reduceLevel: 0 },
      { kind: NEW_TOOL, iteration: 5, round: 2, parent: 2, tool: "sklearn", reduceLevel: 0 },
      { kind: NEW_TOOL, iteration: 6, round: 2, parent: 3, tool: "baseline", reduceLevel: 0 },
    ]);
    if (step.kind === "round")
      expect(step.candidates[1]!.fix?.plan).toBe("Switch from lightgbm to sklearn: lightgbm failed in iteration 2");
  });

  it("gives two switches to the same untried tool one each, and drops a switch when no tool is left", () => {
    const twoSwitches = [failed(1, "autogluon", fix("sklearn"), 1), failed(2, "lightgbm", fix("sklearn"), 1)];
    expect(planned(nextRound(twoSwitches, context, limits({ parallelism: 2 }))).map((c) => [c.kind, c.parent, c.tool])).toEqual([
      [NEW_TOOL, 1, "sklearn"],
      [NEW_TOOL, 2, "xgboost"],
    ]);
    const allTried = [failed(1, "autogluon", fix("lightgbm"), 1), failed(2, "lightgbm", fix("autogluon"), 1)];
    expect(nextRound(allTried, contextOf(["autogluon", "lightgbm"]), limits({ parallelism: 2 }))).toEqual({
      kind: "finish",
      best: undefined,
      reason: "gave up after 2 iteration(s): lightgbm failed in iteration 2",
    });
  });

  it("fills the slots the fixes leave with untried tools, in perception's order", () => {
    const nodes = [failed(1, "autogluon", fix("autogluon"), 1), failed(2, "lightgbm", undefined, 1), failed(3, "xgboost", undefined, 1)];
    const step = nextRound(nodes, context, limits());
    expect(planned(step)).toEqual([
      { kind: DEBUG, iteration: 4, round: 2, parent: 1, tool: "autogluon", reduceLevel: 0 },
      { kind: NEW_TOOL, iteration: 5, round: 2, parent: 0, tool: "sklearn", reduceLevel: 0 },
      { kind: NEW_TOOL, iteration: 6, round: 2, parent: 0, tool: "baseline", reduceLevel: 0 },
    ]);
    if (step.kind === "round") expect(step.candidates[1]!.fix?.plan).toBe("Try sklearn, not tried yet.");
  });

  it("never plans the same program twice in a round", () => {
    // Two nodes of one tool whose fixes are the same: one DEBUG, the other slot goes to an untried tool.
    const nodes = [
      { ...failed(4, "autogluon", fix("autogluon", { reduceLevel: 1 }), 2), kind: DEBUG },
      { ...failed(5, "autogluon", fix("autogluon", { reduceLevel: 1 }), 2), kind: DEBUG },
    ];
    const earlier = [failed(1, "autogluon", fix("autogluon"), 1), failed(2, "lightgbm", undefined, 1)];
    expect(
      planned(nextRound([...earlier, ...nodes], contextOf(["autogluon", "lightgbm", "sklearn"]), limits({ parallelism: 2 }))).map((c) => [
        c.kind,
        c.parent,
        c.tool,
        c.reduceLevel,
      ]),
    ).toEqual([
      [DEBUG, 4, "autogluon", 1],
      [NEW_TOOL, 0, "sklearn", 0],
    ]);
  });

  it("expands only the last round's nodes, numbering on from the highest iteration", () => {
    const nodes = [
      failed(1, "autogluon", fix("autogluon"), 1),
      failed(2, "lightgbm", fix("lightgbm"), 1),
      { ...failed(3, "autogluon", fix("autogluon", { reduceLevel: 1 }), 2), kind: DEBUG },
      { ...failed(4, "lightgbm", undefined, 2), kind: DEBUG },
    ];
    expect(planned(nextRound(nodes, context, limits({ parallelism: 2 })))).toEqual([
      { kind: DEBUG, iteration: 5, round: 3, parent: 3, tool: "autogluon", reduceLevel: 1 },
      { kind: NEW_TOOL, iteration: 6, round: 3, parent: 0, tool: "xgboost", reduceLevel: 0 },
    ]);
  });

  it("gives up when a failed round leaves nothing to try", () => {
    const nodes = [failed(1, "autogluon", undefined, 1), failed(2, "lightgbm", undefined, 1)];
    expect(nextRound(nodes, contextOf(["autogluon", "lightgbm"]), limits())).toEqual({
      kind: "finish",
      best: undefined,
      reason: "gave up after 2 iteration(s): lightgbm failed in iteration 2",
    });
  });

  it("plans no more iterations than the budget has left", () => {
    const nodes = [
      failed(1, "autogluon", fix("autogluon"), 1),
      failed(2, "lightgbm", fix("lightgbm"), 1),
      failed(3, "xgboost", fix("sklearn"), 1),
    ];
    expect(planned(nextRound(nodes, context, limits({ maxIterations: 4 }))).map((c) => c.iteration)).toEqual([4]);
    expect(planned(nextRound(nodes, context, limits({ maxIterations: 5 }))).map((c) => c.iteration)).toEqual([4, 5]);
  });

  describe("the single loop (parallelism 1)", () => {
    it("runs one candidate after a failure: the failed node's own fix, as the loop before the search did", () => {
      const oom = [failed(1, "autogluon", fix("autogluon", { reduceLevel: 1 }), 1, FailureCategory.OUT_OF_MEMORY)];
      const one = limits({ parallelism: 1, maxIterations: 5 });
      expect(planned(nextRound(oom, context, one))).toEqual([
        { kind: DEBUG, iteration: 2, round: 2, parent: 1, tool: "autogluon", reduceLevel: 1 },
      ]);
      const missing = [failed(1, "xgboost", fix("sklearn"), 1, FailureCategory.MISSING_MODULE)];
      const step = nextRound(missing, context, one);
      expect(planned(step)).toEqual([{ kind: NEW_TOOL, iteration: 2, round: 2, parent: 1, tool: "sklearn", reduceLevel: 0 }]);
      if (step.kind === "round") {
        expect(step.candidates[0]!.fix?.plan).toBe("Use sklearn.");
        expect(step.candidates[0]!.roundIterations).toEqual([2]);
      }
    });

    it("walks a run of failures one iteration at a time and stops at the budget", () => {
      const one = limits({ parallelism: 1, maxIterations: 3 });
      const nodes: SearchNode[] = [failed(1, "autogluon", fix("lightgbm"), 1, FailureCategory.MISSING_MODULE)];
      let step = nextRound(nodes, context, one);
      expect(planned(step).map((c) => c.tool)).toEqual(["lightgbm"]);
      nodes.push({ ...failed(2, "lightgbm", fix("lightgbm"), 2), kind: NEW_TOOL });
      step = nextRound(nodes, context, one);
      expect(planned(step)).toEqual([{ kind: DEBUG, iteration: 3, round: 3, parent: 2, tool: "lightgbm", reduceLevel: 0 }]);
      nodes.push({ ...failed(3, "lightgbm", fix("xgboost"), 3), kind: DEBUG });
      expect(nextRound(nodes, context, one)).toMatchObject({
        kind: "finish",
        best: undefined,
        reason: /all 3 iterations of the budget are used/,
      });
      nodes[2] = { ...success(3, "lightgbm", 0.8, 3), kind: DEBUG };
      expect(nextRound(nodes, context, one)).toMatchObject({
        kind: "finish",
        best: { iteration: 3 },
        reason: /best of 1 successful programs \(3 run\)/,
      });
    });
  });

  describe("improvement rounds", () => {
    const round1 = [success(1, "autogluon", 0.9, 1), failed(2, "lightgbm", fix("lightgbm"), 1), success(3, "xgboost", 0.95, 1)];

    it("after a success, improves the best nodes once (improveRounds 1), then finishes with the best of all", () => {
      const step = nextRound(round1, context, limits({ improveRounds: 1 }));
      expect(planned(step)).toEqual([
        { kind: IMPROVE, iteration: 4, round: 2, parent: 3, tool: "xgboost", reduceLevel: 0 },
        { kind: IMPROVE, iteration: 5, round: 2, parent: 1, tool: "autogluon", reduceLevel: 0 },
      ]);
      expect(step.reason).toBe("round 2: improve iteration 3 (xgboost), iteration 1 (autogluon)");
      if (step.kind === "round") {
        expect(step.candidates[0]!.fix?.plan).toBe(
          "Raise the validation roc_auc of iteration 3's xgboost program (0.95) without breaking its output.",
        );
        expect(step.candidates[0]!.roundIterations).toEqual([4, 5]);
      }
      const improved = [
        ...round1,
        { ...success(4, "xgboost", 0.97, 2), kind: IMPROVE },
        { ...failed(5, "autogluon", fix("autogluon"), 2), kind: IMPROVE },
      ];
      expect(nextRound(improved, context, limits({ improveRounds: 1 }))).toMatchObject({ kind: "finish", best: { iteration: 4 } });
      // An improvement that scores worse leaves the earlier best.
      improved[3] = { ...success(4, "xgboost", 0.93, 2), kind: IMPROVE };
      expect(nextRound(improved, context, limits({ improveRounds: 1 }))).toMatchObject({ kind: "finish", best: { iteration: 3 } });
    });

    it("runs no more GPU programs at once than the task's GPUs allow", () => {
      expect(planned(firstRound(context, limits({ gpus: { perRun: 1, max: 2 } }))).map((c) => c.tool)).toEqual(["autogluon", "lightgbm"]);
      expect(planned(firstRound(context, limits({ gpus: { perRun: 2, max: 3 } })))).toHaveLength(1);
      expect(planned(firstRound(context, limits({ gpus: { perRun: 0, max: 1 } })))).toHaveLength(3);
      expect(planned(firstRound(context, limits({ gpus: { perRun: 1, max: 0 } })))).toHaveLength(3);
    });

    it("improves a program at the reduce level it was built at, so it does not run out again", () => {
      const reduced = [{ ...success(1, "autogluon", 0.9, 1), reduceLevel: 2 }];
      expect(planned(nextRound(reduced, context, limits({ improveRounds: 1 })))).toEqual([
        { kind: IMPROVE, iteration: 2, round: 2, parent: 1, tool: "autogluon", reduceLevel: 2 },
      ]);
    });

    it("finishes at the first success without them (improveRounds 0)", () => {
      expect(nextRound(round1, context, limits())).toMatchObject({ kind: "finish", best: { iteration: 3 } });
    });

    it("ranks the nodes to improve with the metric's direction, scored before unscored", () => {
      const lower = contextOf(TOOLS, false);
      const nodes = [
        success(1, "autogluon", undefined, 1),
        success(2, "lightgbm", 140, 1),
        success(3, "xgboost", 120, 1),
        success(4, "sklearn", 130, 1),
      ];
      expect(planned(nextRound(nodes, lower, limits({ improveRounds: 1 }))).map((c) => c.parent)).toEqual([3, 4, 2]);
      expect(planned(nextRound(nodes, context, limits({ improveRounds: 1 }))).map((c) => c.parent)).toEqual([2, 4, 3]);
    });

    it("improves within the iteration budget and not at all once it or the deadline is used up", () => {
      expect(planned(nextRound(round1, context, limits({ improveRounds: 1, maxIterations: 4 }))).map((c) => c.iteration)).toEqual([4]);
      expect(nextRound(round1, context, limits({ improveRounds: 1, maxIterations: 3 }))).toMatchObject({
        kind: "finish",
        best: { iteration: 3 },
      });
      expect(nextRound(round1, context, limits({ improveRounds: 1, secondsLeft: 5 }))).toMatchObject({
        kind: "finish",
        best: { iteration: 3 },
      });
    });

    it("in the single loop improves the one best program per round, as many rounds as asked", () => {
      const one = limits({ parallelism: 1, improveRounds: 2 });
      const nodes: SearchNode[] = [success(1, "autogluon", 0.9, 1)];
      expect(planned(nextRound(nodes, context, one))).toEqual([
        { kind: IMPROVE, iteration: 2, round: 2, parent: 1, tool: "autogluon", reduceLevel: 0 },
      ]);
      nodes.push({ ...success(2, "autogluon", 0.92, 2), kind: IMPROVE });
      expect(planned(nextRound(nodes, context, one))).toEqual([
        { kind: IMPROVE, iteration: 3, round: 3, parent: 2, tool: "autogluon", reduceLevel: 0 },
      ]);
      nodes.push({ ...success(3, "autogluon", 0.91, 3), kind: IMPROVE });
      expect(nextRound(nodes, context, one)).toMatchObject({ kind: "finish", best: { iteration: 2 } });
    });
  });
});
