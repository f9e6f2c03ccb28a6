import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs, timestampFromMs, timestampMs, timestampNow } from "@bufbuild/protobuf/wkt";
import { newEnvelope, type EventBus, type EventHandlers, type EventMessage, type EventName } from "@mlzero/bus";
import { InvalidInputError, NotFoundError, describeError } from "@mlzero/errors";
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
} from "@mlzero/proto";
import { serve, type ServiceHandlers } from "@mlzero/rpc";
import type { ServiceModule } from "@mlzero/service";
import { taskWorkspace } from "@mlzero/workspace";
import { applyEvent } from "./apply-event.js";
import type { BudgetDefaults } from "./config.js";
import { inputFolderOf, stageInput } from "./stage-input.js";
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

/** Tenant of every task until authentication maps callers to tenants. */
const DEFAULT_TENANT = "default";
const MAX_PAGE_SIZE = 500;

/**
 * The gateway: the public `TaskService`, the task state projection fed by
 * every pipeline event, the output folder of every finished task, and the
 * deadline watchdog that ends a task whose pipeline went quiet.
 *
 * Its state survives a restart through the {@link TaskStore}: every change
 * is saved before the call or event that made it completes (so with a bus
 * that commits after the handler, an event whose change was not saved is
 * delivered again), and the board is rebuilt from the store at start.
 */
export function createGatewayModule(options: GatewayModuleOptions): GatewayModule {
  const { bus, logger, workspaceRoot, defaults } = options;
  const store = options.store ?? createMemoryTaskStore();
  const board = new TaskBoard();
  const byIdempotencyKey = new Map<string, string>();
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
      if (record.idempotencyKey) byIdempotencyKey.set(record.idempotencyKey, task.taskId);
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

  const found = async (taskId: string): Promise<TaskRecord> => {
    await ready();
    const record = board.get(taskId);
    if (!record) throw new NotFoundError(`task ${taskId} not found`);
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

  const taskService: ServiceHandlers<typeof TaskService> = {
    async submit(request) {
      await ready();
      const key = request.idempotencyKey.trim();
      const earlier = key ? byIdempotencyKey.get(key) : undefined;
      if (earlier) {
        const { task } = await found(earlier);
        // The first Submit failed after saving the task: announce it now.
        if (task.state === TaskState.QUEUED) await publishSubmitted(task);
        return { task };
      }
      const spec = create(TaskSpecSchema, {
        inputUri: request.spec?.inputUri,
        description: request.spec?.description,
        budget: withDefaults(request.spec?.budget, defaults),
      });
      const source = inputFolderOf(spec.inputUri);
      spec.inputUri = source;
      const taskId = newTaskId();
      const workspace = taskWorkspace(workspaceRoot, DEFAULT_TENANT, taskId);
      await stageInput(source, workspace.inputDir);
      const now = Date.now();
      const task = create(TaskSchema, {
        taskId,
        tenant: DEFAULT_TENANT,
        state: TaskState.QUEUED,
        spec,
        createdAt: timestampFromMs(now),
        message: "queued",
      });
      board.add(task, key);
      if (key) byIdempotencyKey.set(key, taskId);
      // Saved before it is announced: a task the pipeline works on is always one the gateway can find.
      try {
        await persist(taskId);
      } catch (error) {
        board.remove(taskId);
        if (key) byIdempotencyKey.delete(key);
        unsaved.delete(taskId);
        throw error;
      }
      armWatchdog(task, deadlineOf(task));
      await publishSubmitted(task);
      logger.info({ taskId, tenant: DEFAULT_TENANT }, "task submitted");
      return { task };
    },

    async get(request) {
      return { task: (await found(request.taskId)).task };
    },

    async *watch(request, context) {
      await found(request.taskId);
      yield* board.watch(request.taskId, request.afterSequence, context.signal);
    },

    async cancel(request) {
      const record = await found(request.taskId);
      if (!isTerminal(record.task.state)) {
        await endTask(record.task, TaskState.CANCELLED, request.reason.trim() || "cancelled by the client");
      }
      return { task: record.task };
    },

    async list(request) {
      await ready();
      const pageSize = Math.min(request.pageSize || 50, MAX_PAGE_SIZE);
      const offset = request.pageToken ? decodePageToken(request.pageToken) : 0;
      const matching = board.all().filter((task) => !request.state || task.state === request.state);
      const page = matching.slice(offset, offset + pageSize);
      const next = offset + pageSize < matching.length ? encodePageToken(offset + pageSize) : "";
      return { tasks: page, nextPageToken: next };
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

function withDefaults(budget: Budget | undefined, defaults: BudgetDefaults): Budget {
  const given = budget ?? create(BudgetSchema);
  const positive = (value: number | undefined, name: string) => {
    if (value !== undefined && value < 0) throw new InvalidInputError(`${name} must not be negative`);
  };
  positive(given.timeLimit ? durationMs(given.timeLimit) : undefined, "time limit");
  positive(given.iterationTimeLimit ? durationMs(given.iterationTimeLimit) : undefined, "iteration time limit");
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

function encodePageToken(offset: number): string {
  return Buffer.from(`offset:${offset}`).toString("base64url");
}

function decodePageToken(token: string): number {
  const match = /^offset:(\d+)$/.exec(Buffer.from(token, "base64url").toString());
  if (!match) throw new InvalidInputError("page token is not one this service issued");
  return Number(match[1]);
}
