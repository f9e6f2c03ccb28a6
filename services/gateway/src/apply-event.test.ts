import { create } from "@bufbuild/protobuf";
import { newEnvelope } from "@mlzero/bus";
import {
  AnalysisSchema,
  AttemptSchema,
  CodeGeneratedSchema,
  ExecutionFinishedSchema,
  IterationAnalyzedSchema,
  PerceptualContextSchema,
  RoundPlannedSchema,
  TaskContextSchema,
  TaskPerceivedSchema,
  TaskSchema,
  TaskState,
  TaskSubmittedSchema,
  Verdict,
} from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import { applyEvent } from "./apply-event.js";
import { TaskBoard } from "./task-board.js";

const envelope = (iteration: number) => newEnvelope({ taskId: "t1", tenant: "default", iteration });
const attempts = (count: number) =>
  create(TaskContextSchema, { attempts: Array.from({ length: count }, (_, index) => create(AttemptSchema, { iteration: index + 1 })) });

function analyzed(iteration: number, verdict: Verdict) {
  return create(IterationAnalyzedSchema, {
    envelope: envelope(iteration),
    task: attempts(iteration),
    program: { candidateId: `iter-00${iteration}-lightgbm`, tool: "lightgbm" },
    analysis: create(AnalysisSchema, { verdict, summary: `iteration ${iteration} failed`, fix: { plan: "fix it" } }),
  });
}

describe("applyEvent under redelivery", () => {
  it("drops an event seen before and never moves the task back for a late or repeated one", () => {
    const board = new TaskBoard();
    board.add(create(TaskSchema, { taskId: "t1", state: TaskState.QUEUED }));
    const submitted = create(TaskSubmittedSchema, { envelope: envelope(0) });
    const perceived = create(TaskPerceivedSchema, { envelope: envelope(0), task: attempts(0) });
    const first = analyzed(1, Verdict.FIX);
    expect(applyEvent(board, "TaskSubmitted", submitted)).toBe(true);
    expect(applyEvent(board, "TaskPerceived", perceived)).toBe(true);
    expect(applyEvent(board, "CodeGenerated", create(CodeGeneratedSchema, { envelope: envelope(1), program: { tool: "lightgbm" } }))).toBe(
      true,
    );
    expect(applyEvent(board, "IterationAnalyzed", first)).toBe(true);
    expect(applyEvent(board, "CodeGenerated", create(CodeGeneratedSchema, { envelope: envelope(2), program: { tool: "lightgbm" } }))).toBe(
      true,
    );
    const record = board.get("t1")!;
    const { sequence } = record.task;
    expect(record.task).toMatchObject({ state: TaskState.EXECUTING, iteration: 2 });

    // The same events again (same ids), and the same steps re-published with new ids after a crash.
    expect(applyEvent(board, "TaskSubmitted", submitted)).toBe(false);
    expect(applyEvent(board, "TaskPerceived", perceived)).toBe(false);
    expect(applyEvent(board, "IterationAnalyzed", first)).toBe(false);
    expect(applyEvent(board, "TaskSubmitted", create(TaskSubmittedSchema, { envelope: envelope(0) }))).toBe(false);
    expect(applyEvent(board, "TaskPerceived", create(TaskPerceivedSchema, { envelope: envelope(0), task: attempts(0) }))).toBe(false);
    expect(applyEvent(board, "IterationAnalyzed", analyzed(1, Verdict.FIX))).toBe(false);
    expect(applyEvent(board, "CodeGenerated", create(CodeGeneratedSchema, { envelope: envelope(1), program: { tool: "xgboost" } }))).toBe(
      false,
    );

    expect(record.task.sequence).toBe(sequence);
    expect(record.task).toMatchObject({ state: TaskState.EXECUTING, iteration: 2, tool: "lightgbm" });
    expect(record.task.iterations.map((summary) => summary.iteration)).toEqual([1]);
    expect(record.context?.attempts).toHaveLength(1);
  });

  it("records the first event of a step that arrives after a later step's, without moving the task back", () => {
    // Each event type has its own topic: the coder's answer can reach the gateway before the event it answered.
    const board = new TaskBoard();
    board.add(create(TaskSchema, { taskId: "t1", state: TaskState.QUEUED }));
    const perception = create(PerceptualContextSchema, { labelColumn: "churn", tools: [{ name: "lightgbm" }] });
    const perceived = create(TaskPerceivedSchema, { envelope: envelope(0), task: { perception } });
    const finished = create(ExecutionFinishedSchema, { envelope: envelope(1) });
    expect(applyEvent(board, "TaskSubmitted", create(TaskSubmittedSchema, { envelope: envelope(0) }))).toBe(true);
    expect(applyEvent(board, "CodeGenerated", create(CodeGeneratedSchema, { envelope: envelope(1), program: { tool: "lightgbm" } }))).toBe(
      true,
    );
    expect(applyEvent(board, "TaskPerceived", perceived)).toBe(true);
    const record = board.get("t1")!;
    expect(record.task).toMatchObject({ state: TaskState.EXECUTING, iteration: 1, labelColumn: "churn" });
    expect(record.context?.perception?.labelColumn).toBe("churn");

    expect(applyEvent(board, "IterationAnalyzed", analyzed(1, Verdict.FIX))).toBe(true);
    const round = create(RoundPlannedSchema, {
      envelope: envelope(2),
      round: 2,
      candidates: [{ iteration: 2 }],
      reason: "round 2: debug lightgbm",
    });
    expect(applyEvent(board, "RoundPlanned", round)).toBe(true);
    expect(applyEvent(board, "ExecutionFinished", finished)).toBe(true);
    expect(record.task).toMatchObject({ state: TaskState.CODING, iteration: 2, message: "round 2: debug lightgbm (after iteration 1)" });
    // Once recorded, a step is not recorded again, whatever the id.
    expect(applyEvent(board, "ExecutionFinished", create(ExecutionFinishedSchema, { envelope: envelope(1) }))).toBe(false);
    expect(applyEvent(board, "TaskPerceived", create(TaskPerceivedSchema, { envelope: envelope(0), task: { perception } }))).toBe(false);
    expect(record.history.map((update) => update.event)).toEqual([
      "TaskSubmitted", // the board's own, at Submit
      "TaskSubmitted",
      "CodeGenerated",
      "TaskPerceived",
      "IterationAnalyzed",
      "RoundPlanned",
      "ExecutionFinished",
    ]);
  });
});
