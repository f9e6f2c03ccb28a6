import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs, timestampFromMs, timestampNow } from "@bufbuild/protobuf/wkt";
import { newEnvelope, type EventBus, type EventHandlers } from "@mlzero/bus";
import { InvalidInputError, NotFoundError, describeError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import {
  BudgetSchema,
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
import { writeTaskOutput } from "./write-task-output.js";

/** Options for {@link createGatewayModule}. */
export interface GatewayModuleOptions {
  bus: EventBus;
  logger: Logger;
  workspaceRoot: string;
  defaults: BudgetDefaults;
  /** Extra time past a task's deadline for its last run to report before the gateway ends it. */
  deadlineGraceMs?: number;
}

/** The gateway's module, with its `TaskService` handlers for in-process clients. */
export interface GatewayModule extends ServiceModule {
  taskService: ServiceHandlers<typeof TaskService>;
}

/** Tenant of every task until authentication maps callers to tenants. */
const DEFAULT_TENANT = "default";
const MAX_PAGE_SIZE = 500;

/**
 * The gateway: the public `TaskService`, the task state projection fed by
 * every pipeline event, the output folder of every finished task, and the
 * deadline watchdog that ends a task whose pipeline went quiet.
 */
export function createGatewayModule(options: GatewayModuleOptions): GatewayModule {
  const { bus, logger, workspaceRoot, defaults } = options;
  const board = new TaskBoard();
  const byIdempotencyKey = new Map<string, string>();
  const watchdogs = new Map<string, NodeJS.Timeout>();

  const found = (taskId: string): TaskRecord => {
    const record = board.get(taskId);
    if (!record) throw new NotFoundError(`task ${taskId} not found`);
    return record;
  };

  async function finish(finished: TaskFinished): Promise<void> {
    const envelope = finished.envelope;
    const record = envelope && board.get(envelope.taskId);
    if (!record || isTerminal(record.task.state)) return;
    clearTimeout(watchdogs.get(envelope.taskId));
    watchdogs.delete(envelope.taskId);
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
      task.timings = Object.entries(record.timings.totals()).map(([stage, ms]) =>
        create(StageTimingSchema, { stage, duration: durationFromMs(ms) }),
      );
    });
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
      Math.max(0, deadlineMs - Date.now()) + (options.deadlineGraceMs ?? 30_000),
    );
    timer.unref();
    watchdogs.set(task.taskId, timer);
  }

  const projection: EventHandlers = {
    TaskSubmitted: async (event) => applyEvent(board, "TaskSubmitted", event),
    TaskPerceived: async (event) => applyEvent(board, "TaskPerceived", event),
    CodeGenerated: async (event) => applyEvent(board, "CodeGenerated", event),
    ExecutionStarted: async (event) => applyEvent(board, "ExecutionStarted", event),
    ExecutionProgress: async (event) => applyEvent(board, "ExecutionProgress", event),
    ExecutionFinished: async (event) => applyEvent(board, "ExecutionFinished", event),
    IterationAnalyzed: async (event) => applyEvent(board, "IterationAnalyzed", event),
    TaskCancelRequested: async (event) => applyEvent(board, "TaskCancelRequested", event),
    TaskFinished: finish,
  };

  const taskService: ServiceHandlers<typeof TaskService> = {
    async submit(request) {
      const key = request.idempotencyKey.trim();
      const earlier = key ? byIdempotencyKey.get(key) : undefined;
      if (earlier) return { task: found(earlier).task };
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
      const deadlineMs = now + durationMs(spec.budget!.timeLimit!);
      const task = create(TaskSchema, {
        taskId,
        tenant: DEFAULT_TENANT,
        state: TaskState.QUEUED,
        spec,
        createdAt: timestampFromMs(now),
        message: "queued",
      });
      board.add(task);
      if (key) byIdempotencyKey.set(key, taskId);
      armWatchdog(task, deadlineMs);
      await bus.publish(
        "TaskSubmitted",
        create(TaskSubmittedSchema, {
          envelope: newEnvelope({ taskId, tenant: DEFAULT_TENANT, iteration: 0 }),
          task: create(TaskContextSchema, { spec: task.spec, submittedAt: task.createdAt, deadline: timestampFromMs(deadlineMs) }),
        }),
      );
      logger.info({ taskId, tenant: DEFAULT_TENANT }, "task submitted");
      return { task };
    },

    async get(request) {
      return { task: found(request.taskId).task };
    },

    watch(request, context) {
      found(request.taskId);
      return board.watch(request.taskId, request.afterSequence, context.signal);
    },

    async cancel(request) {
      const record = found(request.taskId);
      if (!isTerminal(record.task.state)) {
        await endTask(record.task, TaskState.CANCELLED, request.reason.trim() || "cancelled by the client");
      }
      return { task: record.task };
    },

    async list(request) {
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
    async stop() {
      for (const timer of watchdogs.values()) clearTimeout(timer);
    },
  };
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
