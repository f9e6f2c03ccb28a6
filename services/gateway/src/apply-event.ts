import { create } from "@bufbuild/protobuf";
import type { EventMessage, EventName } from "@mlzero/bus";
import { IterationSummarySchema, ProblemType, TaskState, Verdict, type Task } from "@mlzero/proto";
import type { TaskBoard, TaskRecord } from "./task-board.js";

const STEP = { coding: 1, executing: 2, analyzing: 3 } as const;

function advance(task: Task, record: TaskRecord, iteration: number, step: keyof typeof STEP, state: TaskState): void {
  const rank = iteration * 10 + STEP[step];
  if (rank < record.rank) return;
  record.rank = rank;
  task.state = state;
  task.iteration = iteration;
}

const PROBLEM_TYPE_TEXT: Partial<Record<ProblemType, string>> = {
  [ProblemType.BINARY]: "binary classification",
  [ProblemType.MULTICLASS]: "multiclass classification",
  [ProblemType.REGRESSION]: "regression",
};

/**
 * Projects one pipeline event onto the task board (all but TaskFinished,
 * which the gateway finalizes first). Idempotent enough for redelivery: a
 * repeated event re-sets the same fields.
 */
export function applyEvent<N extends Exclude<EventName, "TaskFinished">>(board: TaskBoard, name: N, message: EventMessage<N>): void {
  const envelope = message.envelope;
  if (!envelope) return;
  const iteration = envelope.iteration;
  const event = message as EventMessage<EventName>;
  switch (event.$typeName) {
    case "mlzero.v1.TaskSubmitted":
      board.update(envelope.taskId, name, (task, record) => {
        record.timings.mark("submitted", 0, envelope.time);
        task.state = TaskState.PERCEIVING;
        task.message = "reading the data";
      });
      return;
    case "mlzero.v1.TaskPerceived":
      board.update(envelope.taskId, name, (task, record) => {
        const perception = event.task?.perception;
        record.context = event.task;
        record.timings.mark("perceived", 0, envelope.time);
        advance(task, record, 1, "coding", TaskState.CODING);
        task.labelColumn = perception?.labelColumn ?? "";
        task.problemType = perception?.problemType ?? ProblemType.UNSPECIFIED;
        task.metric = perception?.metric?.name ?? "";
        task.tool = perception?.tools[0]?.name ?? "";
        task.message = `predicting "${task.labelColumn}" (${PROBLEM_TYPE_TEXT[task.problemType] ?? "unknown"}, ${task.metric}); tools: ${perception?.tools.map((tool) => tool.name).join(", ")}`;
      });
      return;
    case "mlzero.v1.CodeGenerated":
      board.update(envelope.taskId, name, (task, record) => {
        record.timings.mark("generated", iteration, envelope.time);
        advance(task, record, iteration, "executing", TaskState.EXECUTING);
        task.tool = event.program?.tool ?? task.tool;
        task.message = `iteration ${iteration}: running the ${task.tool} program`;
      });
      return;
    case "mlzero.v1.ExecutionStarted":
      board.update(envelope.taskId, name, (task, record) => advance(task, record, iteration, "executing", TaskState.EXECUTING));
      return;
    case "mlzero.v1.ExecutionProgress":
      board.update(envelope.taskId, name, () => undefined, event.logTail);
      return;
    case "mlzero.v1.ExecutionFinished":
      board.update(envelope.taskId, name, (task, record) => {
        record.timings.mark("executed", iteration, envelope.time);
        advance(task, record, iteration, "analyzing", TaskState.ANALYZING);
        task.message = `iteration ${iteration}: checking the outputs`;
      });
      return;
    case "mlzero.v1.IterationAnalyzed":
      board.update(envelope.taskId, name, (task, record) => {
        const analysis = event.analysis;
        record.context = event.task;
        record.timings.mark("analyzed", iteration, envelope.time);
        task.iterations = task.iterations.filter((summary) => summary.iteration !== iteration);
        task.iterations.push(
          create(IterationSummarySchema, {
            iteration,
            candidateId: event.program?.candidateId ?? "",
            tool: event.program?.tool ?? "",
            verdict: analysis?.verdict ?? Verdict.UNSPECIFIED,
            failure: analysis?.failure,
            analysis: analysis?.summary ?? "",
            score: analysis?.score,
            duration: event.result?.duration,
          }),
        );
        task.iterations.sort((a, b) => a.iteration - b.iteration);
        if (analysis?.score !== undefined && (task.bestScore === undefined || analysis.verdict === Verdict.SUCCESS))
          task.bestScore = analysis.score;
        if (analysis?.verdict === Verdict.FIX) {
          advance(task, record, iteration + 1, "coding", TaskState.CODING);
          task.message = `iteration ${iteration} failed: ${analysis.summary} Next: ${analysis.fix?.plan ?? "retry"}`;
        }
      });
      return;
    case "mlzero.v1.TaskCancelRequested":
      board.update(envelope.taskId, name, (task) => {
        task.message = `cancelling: ${event.reason}`;
      });
      return;
  }
}
