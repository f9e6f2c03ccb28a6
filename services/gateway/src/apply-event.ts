import { create } from "@bufbuild/protobuf";
import type { EventMessage, EventName } from "@mlzero/bus";
import { sumUsage } from "@mlzero/llm/usage";
import { IterationSummarySchema, ProblemType, TaskState, Verdict, type Task } from "@mlzero/proto";
import type { TaskBoard, TaskRecord } from "./task-board.js";

const STEP = { perceiving: 0, coding: 1, executing: 2, analyzing: 3 } as const;

/**
 * Moves the task to `state` unless it is already further along the loop;
 * false when it is (the event is late or repeated, and says nothing new).
 */
function advance(task: Task, record: TaskRecord, iteration: number, step: keyof typeof STEP, state: TaskState): boolean {
  const rank = iteration * 10 + STEP[step];
  if (rank < record.rank) return false;
  record.rank = rank;
  task.state = state;
  task.iteration = iteration;
  return true;
}

const PROBLEM_TYPE_TEXT: Partial<Record<ProblemType, string>> = {
  [ProblemType.BINARY]: "binary classification",
  [ProblemType.MULTICLASS]: "multiclass classification",
  [ProblemType.REGRESSION]: "regression",
};

/**
 * Projects one pipeline event onto the task board (all but TaskFinished,
 * which the gateway finalizes first). Safe under redelivery and reordering:
 * - an event whose id the task has seen is dropped;
 * - a repeat of a step of an iteration (re-published with a new id after a
 *   crash) is dropped: its step's timing mark is already there;
 * - the first event of a step the task has moved past (events of different
 *   topics arrive in any order: the coder's CodeGenerated may come before
 *   the TaskPerceived it answered) is recorded, with what it tells (the
 *   perception's facts), but moves no state back.
 * So no state goes back, no iteration is counted twice, and every step
 * shows once in Watch. True when the board recorded an update.
 */
export function applyEvent<N extends Exclude<EventName, "TaskFinished">>(board: TaskBoard, name: N, message: EventMessage<N>): boolean {
  const envelope = message.envelope;
  if (!envelope) return false;
  const iteration = envelope.iteration;
  const event = message as EventMessage<EventName>;
  const update = (change: Parameters<TaskBoard["update"]>[2], logTail = "") =>
    // Progress is a stream of snapshots, never applied twice in effect: its ids are not kept.
    board.update(envelope.taskId, name, change, logTail, name === "ExecutionProgress" ? "" : envelope.eventId);
  /** Marks the step; false when it was marked before (a repeat). */
  const firstOf = (record: TaskRecord, mark: Parameters<TaskRecord["timings"]["mark"]>[0], at: number) => {
    const first = !record.timings.has(mark, at);
    record.timings.mark(mark, at, envelope.time);
    return first;
  };
  switch (event.$typeName) {
    case "mlzero.v1.TaskSubmitted":
      return update((task, record) => {
        if (!firstOf(record, "submitted", 0)) return false;
        if (task.state === TaskState.QUEUED && advance(task, record, 0, "perceiving", TaskState.PERCEIVING)) {
          task.message = "reading the data";
        }
      });
    case "mlzero.v1.TaskPerceived":
      return update((task, record) => {
        if (!firstOf(record, "perceived", 0)) return false;
        const perception = event.task?.perception;
        // A later event's context (with attempts) stays: it holds this perception too.
        if (!record.context?.perception) record.context = event.task;
        task.labelColumn = perception?.labelColumn ?? "";
        task.problemType = perception?.problemType ?? ProblemType.UNSPECIFIED;
        task.metric = perception?.metric?.name ?? "";
        task.llmUsage = sumUsage([...task.llmUsage, ...(perception?.llmUsage ?? [])]);
        if (!advance(task, record, 1, "coding", TaskState.CODING)) return;
        task.tool = perception?.tools[0]?.name ?? "";
        task.message = `predicting "${task.labelColumn}" (${PROBLEM_TYPE_TEXT[task.problemType] ?? "unknown"}, ${task.metric}); tools: ${perception?.tools.map((tool) => tool.name).join(", ")}`;
      });
    case "mlzero.v1.RoundPlanned":
      return update((task, record) => {
        if (!firstOf(record, "planned", iteration)) return false;
        for (const candidate of event.candidates) record.timings.mark("planned", candidate.iteration, envelope.time);
        if (!advance(task, record, iteration, "coding", TaskState.CODING)) return;
        task.message = event.round === 1 ? event.reason : `${event.reason} (after iteration ${iteration - 1})`;
      });
    case "mlzero.v1.CodeGenerated":
      return update((task, record) => {
        if (!firstOf(record, "generated", iteration)) return false;
        task.llmUsage = sumUsage([...task.llmUsage, ...(event.program?.llmUsage ?? [])]);
        if (!advance(task, record, iteration, "executing", TaskState.EXECUTING)) return;
        task.tool = event.program?.tool ?? task.tool;
        task.message = `iteration ${iteration}: running the ${task.tool} program`;
      });
    case "mlzero.v1.ExecutionStarted":
      return update((task, record) => {
        if (!firstOf(record, "started", iteration)) return false;
        advance(task, record, iteration, "executing", TaskState.EXECUTING);
      });
    case "mlzero.v1.ExecutionProgress":
      return update((task) => task.iteration === iteration, event.logTail);
    case "mlzero.v1.ExecutionFinished":
      return update((task, record) => {
        if (!firstOf(record, "executed", iteration)) return false;
        if (advance(task, record, iteration, "analyzing", TaskState.ANALYZING)) {
          task.message = `iteration ${iteration}: checking the outputs`;
        }
      });
    case "mlzero.v1.IterationAnalyzed":
      return update((task, record) => {
        const analysis = event.analysis;
        // Its own test of a repeat below: a verdict may change after a crash (recorded, not judged again).
        record.timings.mark("analyzed", iteration, envelope.time);
        // One summary per iteration: replaced, never appended twice, and a repeat changes nothing.
        const known = task.iterations.find((summary) => summary.iteration === iteration);
        const same =
          known?.candidateId === (event.program?.candidateId ?? "") &&
          known.verdict === (analysis?.verdict ?? Verdict.UNSPECIFIED) &&
          known.analysis === (analysis?.summary ?? "");
        if (same) return false;
        // A verdict replaced after a crash (recorded, not judged again) carries the same usage: count it once.
        if (known === undefined) task.llmUsage = sumUsage([...task.llmUsage, ...(analysis?.llmUsage ?? [])]);
        // The context with the most attempts is the latest; an earlier iteration's must not replace it.
        if ((event.task?.attempts.length ?? 0) >= (record.context?.attempts.length ?? 0)) record.context = event.task;
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
        if (analysis?.verdict !== Verdict.SUCCESS) task.message = `iteration ${iteration} failed: ${analysis?.summary}`;
      });
    case "mlzero.v1.TaskCancelRequested":
      return update((task) => {
        task.message = `cancelling: ${event.reason}`;
      });
  }
  return false;
}
