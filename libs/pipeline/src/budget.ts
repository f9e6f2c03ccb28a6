import { timestampMs } from "@bufbuild/protobuf/wkt";
import { durationMs } from "@bufbuild/protobuf/wkt";
import type { TaskContext } from "@mlzero/proto";

/** Seconds left before the task's deadline (negative once past it). */
export function secondsLeft(task: TaskContext | undefined, now = Date.now()): number {
  if (!task?.deadline) return Number.POSITIVE_INFINITY;
  return (timestampMs(task.deadline) - now) / 1000;
}

/**
 * Wall-clock seconds the next program run may take: the task's per-iteration
 * limit, cut to what is left of its deadline.
 */
export function runTimeLimitSeconds(task: TaskContext | undefined, now = Date.now()): number {
  const perIteration = task?.spec?.budget?.iterationTimeLimit
    ? durationMs(task.spec.budget.iterationTimeLimit) / 1000
    : Number.POSITIVE_INFINITY;
  const limit = Math.min(perIteration, secondsLeft(task, now));
  if (!Number.isFinite(limit)) throw new Error("task has neither an iteration time limit nor a deadline");
  return Math.max(0, limit);
}
