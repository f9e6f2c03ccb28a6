import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs, timestampFromMs, timestampMs, timestampNow, type Duration } from "@bufbuild/protobuf/wkt";
import { newEnvelope, type EventBus, type EventHandlers, type EventMessage, type EventName } from "@mlzero/bus";
import { FailedPreconditionError, InvalidInputError, NotFoundError, describeError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import {
  BudgetSchema,
  IterationSummarySchema,
  StageTimingSchema,
  TaskCancelRequestedSchema,
  TaskContextSchema,
  TaskFinishedSchema,
  TaskSchema,
  TaskService,
  TaskSpecSchema,
  TaskState,
  TaskSubmittedSchema,
  type Budget,
  type Task,
  type TaskFinished,
  type TaskSpec,
} from "@mlzero/proto";
import { serve, type CallContext, type ServiceHandlers } from "@mlzero/rpc";
import type { ServiceModule } from "@mlzero/service";
import { taskWorkspace } from "@mlzero/workspace";
import { applyEvent } from "./apply-event.js";
import { singleTenant, type Authenticator } from "./bearer-tokens.js";
import type { BudgetDefaults } from "./config.js";
import { listPage } from "./list-tasks.js";
import { resolveInput, stageInput } from "./stage-input.js";
import { TaskBoard, isTerminal, type TaskRecord } from "./task-board.js";
import { createMemoryTaskStore, type TaskStore } from "./task-store.js";
import { writeTaskOutput } from "./write-task-output.js";

/** Options for {@link createGatewayModule}. */
export interface GatewayModuleOptions {
  bus: EventBus;
  logger: Logger;
  workspaceRoot: string;
  defaults: BudgetDefaults;
  /** Extra time past a task's deadline for its last run to report before the gateway ends it. */
  deadlineGraceMs?: number;
  /** Where task state survives a restart (default: in memory, this process only). */
  store?: TaskStore;
  /**
   * Who a call is from: its tenant, from its metadata. Default: one tenant,
   * "default", and no authentication (embedded `mlzero run`, a trusted network).
   * With one given, inputs inside the workspace root are refused (a tenant
   * would read another's task folders).
   */
  authenticator?: Authenticator;
  /** Folders inputs must be in (absolute; symbolic links resolved on use); empty or unset: any local folder. */
  allowedRoots?: readonly string[];
  /** A Watch stream with nothing to send sends a heartbeat this often (default 15 s; 0: never). */
  watchHeartbeatMs?: number;
}

/** The gateway's module, with its `TaskService` handlers for in-process clients. */
export interface GatewayModule extends ServiceModule {
  taskService: ServiceHandlers<typeof TaskService>;
  /**
   * Rebuilds the board from the store: tasks, Watch history, idempotency
   * keys; re-arms the deadline watchdog of every running task and publishes
   * again the TaskSubmitted of a task the gateway accepted but had not seen
   * start. Every handler waits for it, so it runs at the latest on the first
   * call or event; runs once however often it is called.
   */
  start(): Promise<void>;
}

/** Longest idempotency key a Submit may carry. */
const MAX_IDEMPOTENCY_KEY_LENGTH = 256;
/** Longest time limit a task may ask for. */
const MAX_TIME_LIMIT_MS = 30 * 24 * 3600 * 1000;

/**
 * The gateway: the public `TaskService`, the task state projection fed by
 * every pipeline event, the output folder of every finished task, and the
 * deadline watchdog that ends a task whose pipeline went quiet.
 *
 * Every call is scoped to its caller's tenant (the {@link Authenticator}):
 * a task of another tenant is NOT_FOUND with the message of a missing one,
 * List shows the caller's tasks, idempotency keys are per tenant, and a
 * task's workspace is under its tenant's folder.
 *
 * Its state survives a restart through the {@link TaskStore}: every change
 * is saved before the call or event that made it completes (so with a bus
 * that commits after the handler, an event whose change was not saved is
 * delivered again), and the board is rebuilt from the store at start.
 */
export function createGatewayModule(options: GatewayModuleOptions): GatewayModule {
  const { bus, logger, workspaceRoot, defaults } = options;
  const store = options.store ?? createMemoryTaskStore();
  const authenticator = options.authenticator ?? singleTenant();
  const allowedRoots = options.allowedRoots ?? [];
  const deniedRoots = options.authenticator ? [workspaceRoot] : [];
  const heartbeatMs = options.watchHeartbeatMs ?? 15_000;
  const board = new TaskBoard();
  // "tenant\0key" → task id: keys are per tenant.
  const byIdempotencyKey = new Map<string, string>();
  // Submits in progress by key, so a repeat sent before the first answered gets the same task.
  const submitting = new Map<string, Promise<Task>>();
  const watchdogs = new Map<string, NodeJS.Timeout>();
  // Saves of one task, in order: each writes the task as it is when it runs.
  const saving = new Map<string, Promise<void>>();
  // Tasks whose last save failed: saved again on their next event, even one that changes nothing.
  const unsaved = new Set<string>();
  let loaded: Promise<void> | undefined;
  const ready = () =>
    (loaded ??= load().catch((error: unknown) => {
      loaded = undefined; // the next call tries again
      throw error;
    }));

  async function load(): Promise<void> {
    const records = board.restoreAll(await store.loadAll());
    let running = 0;
    for (const record of records) {
      const task = record.task;
      if (record.idempotencyKey) byIdempotencyKey.set(idempotencyScope(task.tenant, record.idempotencyKey), task.taskId);
      if (isTerminal(task.state)) continue;
      running++;
      armWatchdog(task, deadlineOf(task));
      // Accepted, saved, and maybe never announced (the gateway died in
      // Submit): announce it. A repeat is dropped or redone harmlessly downstream.
      if (task.state === TaskState.QUEUED) {
        await publishSubmitted(task).catch((error: unknown) =>
          logger.error({ taskId: task.taskId, err: describeError(error) }, "could not announce a queued task"),
        );
      }
    }
    if (records.length > 0) logger.info({ tasks: records.length, running }, "task state restored");
  }

  function persist(taskId: string): Promise<void> {
    const save = (saving.get(taskId) ?? Promise.resolve()).then(async () => {
      const snapshot = board.snapshot(taskId);
      if (!snapshot) return;
      try {
        await store.save(snapshot);
        unsaved.delete(taskId);
      } catch (error) {
        unsaved.add(taskId);
        throw error;
      }
    });
    const settled = save.catch(() => undefined);
    saving.set(taskId, settled);
    void settled.then(() => {
      if (saving.get(taskId) === settled) saving.delete(taskId);
    });
    return save;
  }

  /** The caller's tenant; UNAUTHENTICATED when the call proves none. */
  const tenantOf = (context: CallContext) => authenticator.tenantOf(context.metadata);

  /** A task of `tenant`; another tenant's is not found, with the same message as a missing one. */
  const found = async (taskId: string, tenant: string): Promise<TaskRecord> => {
    if (!taskId.trim()) throw new InvalidInputError("task_id is required");
    await ready();
    const record = board.get(taskId);
    if (!record || record.task.tenant !== tenant) throw new NotFoundError(`task ${taskId} not found`);
    return record;
  };

  async function finish(finished: TaskFinished): Promise<void> {
    await ready();
    const envelope = finished.envelope;
    const record = envelope && board.get(envelope.taskId);
    // Once terminal (and saved), a repeat of TaskFinished is dropped: the
    // output is written once per task. A crash before that save delivers it
    // again, and the output folder is rebuilt and swapped in whole.
    if (!record) return;
    if (isTerminal(record.task.state)) {
      if (unsaved.has(envelope.taskId)) await persist(envelope.taskId);
      return;
    }
    clearTimeout(watchdogs.get(envelope.taskId));
    watchdogs.delete(envelope.taskId);
    // The analyzer's count is complete; the board's may miss the last verdict's calls (another topic, maybe still in flight).
    if (finished.llmUsage.length > 0) record.task.llmUsage = finished.llmUsage;
    const output = await writeTaskOutput({
      workspace: taskWorkspace(workspaceRoot, envelope.tenant, envelope.taskId),
      task: record.task,
      finished,
      context: finished.task ?? record.context,
      timings: record.timings.totals(),
    });
    board.update(envelope.taskId, "TaskFinished", (task) => {
      task.state = finished.state;
      task.message = finished.reason;
      task.finishedAt = timestampNow();
      task.outputDir = output.outputDir;
      task.predictionsFile = output.predictionsFile;
      if (finished.score !== undefined) task.bestScore = finished.score;
      if (finished.bestProgram?.tool) task.tool = finished.bestProgram.tool;
      // The last IterationAnalyzed may arrive after TaskFinished (another
      // topic), and is dropped once the task has ended: the attempts the
      // task ended with complete the iterations.
      for (const attempt of finished.task?.attempts ?? []) {
        if (task.iterations.some((summary) => summary.iteration === attempt.iteration)) continue;
        const { iteration, candidateId, tool, verdict, failure, analysis, score, duration } = attempt;
        task.iterations.push(create(IterationSummarySchema, { iteration, candidateId, tool, verdict, failure, analysis, score, duration }));
      }
      task.iterations.sort((a, b) => a.iteration - b.iteration);
      task.timings = Object.entries(record.timings.totals()).map(([stage, ms]) =>
        create(StageTimingSchema, { stage, duration: durationFromMs(ms) }),
      );
    });
    await persist(envelope.taskId);
    logger.info({ taskId: envelope.taskId, tenant: envelope.tenant, state: TaskState[finished.state] }, "task finished");
  }

  /** Ends a task that is still running: cancels its work, then records why. */
  async function endTask(task: Task, state: TaskState, reason: string): Promise<void> {
    const envelope = newEnvelope({ taskId: task.taskId, tenant: task.tenant, iteration: task.iteration });
    await bus.publish("TaskCancelRequested", create(TaskCancelRequestedSchema, { envelope, reason }));
    await bus.publish(
      "TaskFinished",
      create(TaskFinishedSchema, {
        envelope: newEnvelope({ taskId: task.taskId, tenant: task.tenant, iteration: task.iteration }),
        state,
        reason,
      }),
    );
  }

  function armWatchdog(task: Task, deadlineMs: number): void {
    clearTimeout(watchdogs.get(task.taskId));
    const timer = setTimeout(
      () => {
        watchdogs.delete(task.taskId);
        const record = board.get(task.taskId);
        if (!record || isTerminal(record.task.state)) return;
        const limit = Math.round(durationMs(task.spec!.budget!.timeLimit!) / 1000);
        endTask(record.task, TaskState.FAILED, `the task ran past its time limit of ${limit} s`).catch((error: unknown) =>
          logger.error({ taskId: task.taskId, err: describeError(error) }, "could not end a task past its deadline"),
        );
      },
      Math.min(Math.max(0, deadlineMs - Date.now()) + (options.deadlineGraceMs ?? 30_000), MAX_TIMER_MS),
    );
    timer.unref();
    watchdogs.set(task.taskId, timer);
  }

  async function publishSubmitted(task: Task): Promise<void> {
    await bus.publish(
      "TaskSubmitted",
      create(TaskSubmittedSchema, {
        envelope: newEnvelope({ taskId: task.taskId, tenant: task.tenant, iteration: 0 }),
        task: create(TaskContextSchema, { spec: task.spec, submittedAt: task.createdAt, deadline: timestampFromMs(deadlineOf(task)) }),
      }),
    );
  }

  /** Projects an event and saves the task when it changed. */
  const project =
    <N extends Exclude<EventName, "TaskFinished">>(name: N) =>
    async (event: EventMessage<N>): Promise<void> => {
      await ready();
      const taskId = event.envelope?.taskId ?? "";
      if (applyEvent(board, name, event) || unsaved.has(taskId)) await persist(taskId);
    };

  const projection: EventHandlers = {
    TaskSubmitted: project("TaskSubmitted"),
    TaskPerceived: project("TaskPerceived"),
    CodeGenerated: project("CodeGenerated"),
    ExecutionStarted: project("ExecutionStarted"),
    ExecutionProgress: project("ExecutionProgress"),
    ExecutionFinished: project("ExecutionFinished"),
    IterationAnalyzed: project("IterationAnalyzed"),
    TaskCancelRequested: project("TaskCancelRequested"),
    TaskFinished: finish,
  };

  /** Accepts a new task of `tenant`: checks and stages its input, saves it, announces it. */
  async function accept(tenant: string, spec: TaskSpec, key: string): Promise<Task> {
    const { source, given } = await resolveInput(spec.inputUri, { allowedRoots, deniedRoots });
    spec.inputUri = given;
    const taskId = newTaskId();
    const workspace = taskWorkspace(workspaceRoot, tenant, taskId);
    await stageInput(source, workspace.inputDir);
    const now = Date.now();
    const task = create(TaskSchema, {
      taskId,
      tenant,
      state: TaskState.QUEUED,
      spec,
      createdAt: timestampFromMs(now),
      message: "queued",
    });
    const scoped = key && idempotencyScope(tenant, key);
    board.add(task, key);
    if (scoped) byIdempotencyKey.set(scoped, taskId);
    // Saved before it is announced: a task the pipeline works on is always one the gateway can find.
    try {
      await persist(taskId);
    } catch (error) {
      board.remove(taskId);
      if (scoped) byIdempotencyKey.delete(scoped);
      unsaved.delete(taskId);
      throw error;
    }
    armWatchdog(task, deadlineOf(task));
    await publishSubmitted(task);
    logger.info({ taskId, tenant }, "task submitted");
    return task;
  }

  const taskService: ServiceHandlers<typeof TaskService> = {
    async submit(request, context) {
      const tenant = await tenantOf(context);
      const key = request.idempotencyKey.trim();
      if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
        throw new InvalidInputError(`idempotency_key must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
      }
      const spec = create(TaskSpecSchema, {
        inputUri: request.spec?.inputUri,
        description: request.spec?.description,
        budget: withDefaults(request.spec?.budget, defaults),
      });
      await ready();
      const scoped = key && idempotencyScope(tenant, key);
      const inFlight = scoped ? submitting.get(scoped) : undefined;
      if (inFlight) return { task: await inFlight };
      const earlier = scoped ? byIdempotencyKey.get(scoped) : undefined;
      if (earlier) {
        const { task } = await found(earlier, tenant);
        // The first Submit failed after saving the task: announce it now.
        if (task.state === TaskState.QUEUED) await publishSubmitted(task);
        return { task };
      }
      if (!scoped) return { task: await accept(tenant, spec, key) };
      const accepting = accept(tenant, spec, key);
      submitting.set(scoped, accepting);
      try {
        return { task: await accepting };
      } finally {
        submitting.delete(scoped);
      }
    },

    async get(request, context) {
      const tenant = await tenantOf(context);
      return { task: (await found(request.taskId, tenant)).task };
    },

    async *watch(request, context) {
      const tenant = await tenantOf(context);
      await found(request.taskId, tenant);
      yield* board.watch(request.taskId, request.afterSequence, context.signal, heartbeatMs);
    },

    async cancel(request, context) {
      const tenant = await tenantOf(context);
      const record = await found(request.taskId, tenant);
      if (isTerminal(record.task.state)) {
        throw new FailedPreconditionError(
          `task ${request.taskId} has already finished (${TaskState[record.task.state]!.toLowerCase()}): there is nothing to cancel`,
        );
      }
      await endTask(record.task, TaskState.CANCELLED, request.reason.trim() || "cancelled by the client");
      return { task: record.task };
    },

    async list(request, context) {
      const tenant = await tenantOf(context);
      await ready();
      return listPage(board.all(), request, tenant);
    },
  };

  return {
    name: "gateway",
    pipeline: { group: "gateway", handlers: projection },
    grpc: [serve(TaskService, taskService)],
    taskService,
    start: ready,
    async stop() {
      for (const timer of watchdogs.values()) clearTimeout(timer);
      watchdogs.clear();
      await loaded?.catch(() => undefined);
      await Promise.all([...saving.values()]);
      await store.close?.();
    },
  };
}

/** Longest delay a Node timer takes; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** When a task must be done: its creation plus its time limit (as Submit set it). */
function deadlineOf(task: Task): number {
  const created = task.createdAt ? timestampMs(task.createdAt) : Date.now();
  return created + durationMs(task.spec!.budget!.timeLimit!);
}

/** The budget a task runs with: the request's, checked, with the defaults for what it leaves out. */
function withDefaults(budget: Budget | undefined, defaults: BudgetDefaults): Budget {
  const given = budget ?? create(BudgetSchema);
  checkDuration(given.timeLimit, "budget.time_limit");
  checkDuration(given.iterationTimeLimit, "budget.iteration_time_limit");
  if (!Number.isFinite(given.maxLlmCostUsd) || given.maxLlmCostUsd < 0) {
    throw new InvalidInputError(`budget.max_llm_cost_usd must be a number of dollars, 0 or more (0: no limit), got ${given.maxLlmCostUsd}`);
  }
  if (given.maxGpus > 0 && given.gpus > given.maxGpus) {
    throw new InvalidInputError(
      `budget.max_gpus (${given.maxGpus}) is less than budget.gpus (${given.gpus}), the GPUs of one run: not even one run would fit`,
    );
  }
  const timeLimitMs = given.timeLimit && durationMs(given.timeLimit) > 0 ? durationMs(given.timeLimit) : defaults.timeLimitSeconds * 1000;
  const iterationMs =
    given.iterationTimeLimit && durationMs(given.iterationTimeLimit) > 0
      ? durationMs(given.iterationTimeLimit)
      : Math.min(defaults.iterationTimeLimitSeconds * 1000, timeLimitMs);
  return create(BudgetSchema, {
    ...given,
    maxIterations: given.maxIterations || defaults.maxIterations,
    timeLimit: durationFromMs(timeLimitMs),
    iterationTimeLimit: durationFromMs(Math.min(iterationMs, timeLimitMs)),
    memoryLimitBytes: given.memoryLimitBytes || BigInt(defaults.memoryLimitBytes),
  });
}

/** Sortable by creation time, unique, and safe as a folder name. */
function newTaskId(): string {
  return `t${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

/** A duration of the budget: unset, or a valid one between 0 and {@link MAX_TIME_LIMIT_MS}. */
function checkDuration(duration: Duration | undefined, name: string): void {
  if (!duration) return;
  const { seconds, nanos } = duration;
  if (nanos <= -1e9 || nanos >= 1e9 || (seconds > 0n && nanos < 0) || (seconds < 0n && nanos > 0)) {
    throw new InvalidInputError(`${name} is not a valid duration`);
  }
  const ms = durationMs(duration);
  if (ms < 0) throw new InvalidInputError(`${name} must not be negative`);
  if (ms > MAX_TIME_LIMIT_MS) throw new InvalidInputError(`${name} must be at most ${MAX_TIME_LIMIT_MS / 86_400_000} days`);
}

/** Where an idempotency key is looked up: per tenant, so two tenants' keys never meet. */
function idempotencyScope(tenant: string, key: string): string {
  return `${tenant}\0${key}`;
}
