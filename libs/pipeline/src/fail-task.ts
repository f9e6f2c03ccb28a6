import { create } from "@bufbuild/protobuf";
import { followEnvelope, type EventBus } from "@mlzero/bus";
import { DomainError } from "@mlzero/errors";
import { TaskFinishedSchema, TaskState, type EventEnvelope, type TaskContext } from "@mlzero/proto";

/** Ends a task as FAILED with a reason a client can read. */
export async function failTask(
  bus: EventBus,
  cause: EventEnvelope | undefined,
  task: TaskContext | undefined,
  reason: string,
): Promise<void> {
  await bus.publish("TaskFinished", create(TaskFinishedSchema, { envelope: followEnvelope(cause), state: TaskState.FAILED, reason, task }));
}

/**
 * Runs a stage's work; a domain error (bad input, nothing fits) ends the task
 * with its message instead of being retried, since a retry would fail the
 * same way. Anything else is rethrown for the bus to redeliver.
 */
export async function failTaskOnDomainError(
  bus: EventBus,
  cause: EventEnvelope | undefined,
  task: TaskContext | undefined,
  work: () => Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    await failTask(bus, cause, task, error.message);
  }
}
