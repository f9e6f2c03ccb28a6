import { TaskState } from "@mlzero/proto";

/** The states a client names (`mlzero ls --state`, the dashboard's `?state=`): "queued" ... "cancelled". */
export const TASK_STATE_NAMES: readonly string[] = Object.values(TaskState)
  .filter((value): value is TaskState => typeof value === "number" && value !== TaskState.UNSPECIFIED)
  .map((state) => TaskState[state]!.toLowerCase());

/** The state a client named, in any case; undefined when it names none. */
export function taskStateNamed(name: string): TaskState | undefined {
  const state = TaskState[name.toUpperCase() as keyof typeof TaskState];
  return typeof state === "number" && state !== TaskState.UNSPECIFIED ? state : undefined;
}
