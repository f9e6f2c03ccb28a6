import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs, timestampFromMs, timestampMs, timestampNow, type Duration } from "@bufbuild/protobuf/wkt";
import { newEnvelope, type EventBus, type EventHandlers, type EventMessage, type EventName } from "@mlzero/bus";
import { FailedPreconditionError, InvalidInputError, NotFoundError, ResourceExhaustedError, describeError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import { KeyedQueue } from "@mlzero/pipeline";
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
import { Admission, gpuHold, type GpuHold } from "./admission.js";
import { applyEvent } from "./apply-event.js";
import { singleTenant, type Authenticator } from "./bearer-tokens.js";
import type { BudgetDefaults } from "./config.js";
import { listPage } from "./list-tasks.js";
import { fixedQuotas, limitsGpus, type Quotas } from "./quotas.js";
import { resolveInput, stageInput } from "./stage-input.js";
import { artifactFile, streamArtifact } from "./task-artifacts.js";
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
  /** Per-tenant and gateway-wide limits on running and queued tasks and GPUs (default: none, every task starts at once). */
  quotas?: Quotas;
  /**
   * The analyzer's round width for a task that leaves budget.parallelism at 0
   * (its MLZERO_SEARCH_PARALLELISM), to count the task's GPUs. Default 1.
   */
  defaultParallelism?: number;
  /** While a task waits to start, or was started but could not be announced, admission runs again this often (default 1 s). */
  admitEveryMs?: number;
  /**
   * How long an ended task is kept after its `finished_at` before it is
   * forgotten: off the board, out of the store, its idempotency key freed,
   * its workspace folder removed. 0 or unset: kept forever.
   */
  taskRetentionMs?: number;
  /** With a retention, ended tasks are looked for this often (default a tenth of the retention, at most 10 min). */
  retentionSweepEveryMs?: number;
}

/** The gateway's module, with its `TaskService` handlers for in-process clients. */
export interface GatewayModule extends ServiceModule {
  taskService: ServiceHandlers<typeof TaskService>;
  /**
   * Rebuilds the board from the store: tasks, Watch history, idempotency
   * keys; re-arms the deadline watchdog of every running task, publishes
   * again the TaskSubmitted of a task the gateway started but had not seen
   * start, puts the tasks that wait back in line and starts those that may.
   * Every handler waits for it, so it runs at the latest on the first call
   * or event; runs once however often it is called.
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
 *
 * Admission ({@link Admission}, limits from {@link Quotas}): a Submit over
 * its tenant's queued limit, or needing more GPUs than its tenant (or the
 * gateway) may ever hold, is RESOURCE_EXHAUSTED; an accepted task is saved
 * QUEUED and started (its `started_at` saved, then its TaskSubmitted
 * published) when its tenant has a free slot and its turn comes, fairly
 * across tenants. Admission runs on every Submit, every task's end, at
 * start, and every `admitEveryMs` while a task waits (quota reloads).
 *
 * Retention (`taskRetentionMs`): a task that ended longer ago than that is
 * forgotten by a sweep at start and every `retentionSweepEveryMs`, as if it
 * never was; a task that has not ended is never forgotten.
 */
export function createGatewayModule(options: GatewayModuleOptions): GatewayModule {
  const { bus, logger, workspaceRoot, defaults } = options;
  const store = options.store ?? createMemoryTaskStore();
  const authenticator = options.authenticator ?? singleTenant();
  const allowedRoots = options.allowedRoots ?? [];
  const deniedRoots = options.authenticator ? [workspaceRoot] : [];
  const heartbeatMs = options.watchHeartbeatMs ?? 15_000;
  const quotas = options.quotas ?? fixedQuotas();
  const defaultParallelism = options.defaultParallelism ?? 1;
  const admitEveryMs = options.admitEveryMs ?? 1_000;
  const retentionMs = options.taskRetentionMs ?? 0;
  const sweepEveryMs = options.retentionSweepEveryMs ?? Math.min(retentionMs / 10, MAX_SWEEP_EVERY_MS);
  const board = new TaskBoard();
  const admission = new Admission();
  // Started (started_at set) and not yet published: published again until it goes out.
  const unannounced = new Set<string>();
  const announcing = new Map<string, Promise<void>>();
  let tick: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;
  let stopped = false;
  // "tenant\0key" → task id: keys are per tenant.
  const byIdempotencyKey = new Map<string, string>();
  // Submits in progress by key, so a repeat sent before the first answered gets the same task.
  const submitting = new Map<string, Promise<Task>>();
  const watchdogs = new Map<string, NodeJS.Timeout>();
  // Saves (and the delete) of one task, in order: each writes the task as it is when it runs.
  const saving = new KeyedQueue();
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
    let waiting = 0;
    for (const record of records) {
      const task = record.task;
      if (record.idempotencyKey) byIdempotencyKey.set(idempotencyScope(task.tenant, record.idempotencyKey), task.taskId);
      if (isTerminal(task.state)) continue;
      const hold = holdOf(task);
      // Never started: back in line, in creation order (the records come oldest first).
      if (!task.startedAt && task.state === TaskState.QUEUED) {
        admission.enqueue(task.taskId, task.tenant, hold.gpus);
        waiting++;
        continue;
      }
      running++;
      admission.restoreRunning(task.taskId, task.tenant, hold.gpus);
      armWatchdog(task, deadlineOf(task));
      // Started, saved, and maybe never announced (the gateway died in
      // between): announce it. A repeat is dropped or redone harmlessly downstream.
      if (task.state === TaskState.QUEUED) unannounced.add(task.taskId);
    }
    if (records.length > 0) logger.info({ tasks: records.length, running, waiting }, "task state restored");
    for (const taskId of [...unannounced]) {
      await announce(taskId).catch((error: unknown) =>
        logger.error({ taskId, err: describeError(error) }, "could not announce a started task"),
      );
    }
    await admitWaiting();
    if (retentionMs > 0) {
      await sweep();
      scheduleSweep();
    }
  }

  function persist(taskId: string): Promise<void> {
    return saving.run(taskId, async () => {
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
  }

  /**
   * Forgets every task that ended more than the retention ago. Never throws:
   * a task that could not be forgotten is logged and tried again next time.
   */
  async function sweep(): Promise<void> {
    const cutoff = Date.now() - retentionMs;
    const expired = board.all().filter((task) => isTerminal(task.state) && task.finishedAt && timestampMs(task.finishedAt) < cutoff);
    let forgotten = 0;
    for (const task of expired) {
      if (stopped) break;
      try {
        await forget(task);
        forgotten++;
      } catch (error) {
        logger.warn(
          { taskId: task.taskId, tenant: task.tenant, err: describeError(error) },
          "could not forget an ended task past its retention; tried again on the next sweep",
        );
      }
    }
    if (forgotten > 0) logger.info({ forgotten, retentionHours: retentionMs / 3_600_000 }, "forgot tasks ended past their retention");
  }

  function scheduleSweep(): void {
    if (stopped) return;
    sweepTimer = setTimeout(() => {
      sweeping = sweep().finally(() => {
        sweeping = undefined;
        scheduleSweep();
      });
    }, sweepEveryMs);
    sweepTimer.unref();
  }

  /**
   * Forgets an ended task: its workspace folder, then its saved state, then
   * its place on the board and its idempotency key. A step that fails leaves
   * the task on the board, so the next sweep does the rest.
   */
  async function forget(task: Task): Promise<void> {
    const { taskId, tenant } = task;
    // The gateway's to remove: the other services write in it only while the task runs.
    await rm(taskWorkspace(workspaceRoot, tenant, taskId).taskDir, { recursive: true, force: true });
    // An ended task is saved again only after a failed save, which would now bring it back.
    unsaved.delete(taskId);
    await saving.run(taskId, () => store.delete(taskId));
    const key = board.get(taskId)?.idempotencyKey;
    board.remove(taskId);
    const scoped = key && idempotencyScope(tenant, key);
    if (scoped && byIdempotencyKey.get(scoped) === taskId) byIdempotencyKey.delete(scoped);
  }

  /** The GPUs a task's runs hold at once. */
  const holdOf = (task: Task): GpuHold => gpuHold(task.spec?.budget, defaultParallelism);

  /**
   * Starts the waiting tasks that may start now, in fair order: each is
   * saved with its start time, then announced (TaskSubmitted). Never throws:
   * a task that could not be announced is tried again. Answers each started
   * task's announcement, for a Submit to report its own.
   */
  async function admitWaiting(): Promise<Map<string, Promise<void>>> {
    const started = new Map<string, Promise<void>>();
    if (stopped) return started;
    const policy = await quotas.current();
    for (const entry of admission.admit(policy)) {
      const record = board.get(entry.taskId);
      if (!record || isTerminal(record.task.state)) {
        admission.release(entry.taskId);
        continue;
      }
      board.update(entry.taskId, "TaskStarted", (task) => {
        const now = Date.now();
        task.startedAt = timestampFromMs(now);
        const waited = task.createdAt ? Math.max(0, now - timestampMs(task.createdAt)) : 0;
        if (task.message !== "queued") task.message = `started after ${Math.round(waited / 1000)} s in the queue`;
      });
      unannounced.add(entry.taskId);
      const announced = announce(entry.taskId);
      started.set(entry.taskId, announced);
      announced.catch((error: unknown) =>
        logger.error({ taskId: entry.taskId, tenant: entry.tenant, err: describeError(error) }, "could not announce a started task"),
      );
      logger.info({ taskId: entry.taskId, tenant: entry.tenant, gpus: entry.gpus }, "task started");
    }
    await Promise.allSettled(started.values());
    scheduleAdmission();
    return started;
  }

  /** Saves a started task, arms its deadline and publishes its TaskSubmitted; once at a time per task. */
  function announce(taskId: string): Promise<void> {
    const inFlight = announcing.get(taskId);
    if (inFlight) return inFlight;
    const announced = (async () => {
      const record = board.get(taskId);
      if (!record || isTerminal(record.task.state)) unannounced.delete(taskId);
      if (!record || !unannounced.has(taskId)) return;
      // Saved started before it is announced: a restarted gateway announces it again rather than starting it twice.
      await persist(taskId);
      // Forgotten meanwhile: its creation could not be saved, and its Submit failed.
      if (board.get(taskId) !== record) {
        unannounced.delete(taskId);
        return;
      }
      armWatchdog(record.task, deadlineOf(record.task));
      await publishSubmitted(record.task);
      unannounced.delete(taskId);
    })().finally(() => announcing.delete(taskId));
    announcing.set(taskId, announced);
    return announced;
  }

  /** Runs admission again later while a task waits or a started one is not announced. */
  function scheduleAdmission(): void {
    if (tick || stopped || (admission.waitingCount() === 0 && unannounced.size === 0)) return;
    tick = setTimeout(() => {
      tick = undefined;
      void (async () => {
        for (const taskId of [...unannounced]) await announce(taskId).catch(() => undefined);
        await admitWaiting();
      })().catch((error: unknown) => logger.error({ err: describeError(error) }, "admission failed"));
    }, admitEveryMs);
    tick.unref();
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
    unannounced.delete(envelope.taskId);
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
    // Its slot and GPUs are free: the next task may start.
    admission.release(envelope.taskId);
    await admitWaiting();
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

  /**
   * Accepts a new task of `tenant`: checks its quotas and stages its input,
   * saves it QUEUED, then starts it if its turn has come (a failure to
   * announce it then fails the Submit, and it is announced later).
   */
  async function accept(tenant: string, spec: TaskSpec, key: string): Promise<Task> {
    const policy = await quotas.current();
    const hold = gpuHold(spec.budget, defaultParallelism);
    const refuse = () => {
      const refusal = admission.refusal(tenant, hold, policy);
      if (refusal) throw new ResourceExhaustedError(refusal);
    };
    refuse(); // before copying anything
    const { source, given } = await resolveInput(spec.inputUri, { allowedRoots, deniedRoots });
    spec.inputUri = given;
    // Under a GPU limit, a task that leaves its width to the analyzer's default
    // is bounded to the GPUs counted for it, whatever that default is there.
    const budget = spec.budget!;
    if (limitsGpus(policy, tenant) && budget.gpus > 0 && budget.parallelism === 0 && budget.maxGpus !== hold.gpus) {
      budget.maxGpus = hold.gpus;
    }
    const taskId = newTaskId();
    const workspace = taskWorkspace(workspaceRoot, tenant, taskId);
    await stageInput(source, workspace.inputDir);
    try {
      refuse(); // again: other Submits of the tenant may have queued meanwhile
    } catch (error) {
      await rm(workspace.taskDir, { recursive: true, force: true });
      throw error;
    }
    const waiting = admission.waitReason(tenant, hold.gpus, policy);
    const now = Date.now();
    const task = create(TaskSchema, {
      taskId,
      tenant,
      state: TaskState.QUEUED,
      spec,
      createdAt: timestampFromMs(now),
      message: waiting ? `queued: ${waiting}` : "queued",
    });
    const scoped = key && idempotencyScope(tenant, key);
    board.add(task, key);
    if (scoped) byIdempotencyKey.set(scoped, taskId);
    admission.enqueue(taskId, tenant, hold.gpus);
    // Saved before it can start: a task the pipeline works on is always one the gateway can find.
    try {
      await persist(taskId);
    } catch (error) {
      board.remove(taskId);
      admission.release(taskId);
      unannounced.delete(taskId);
      if (scoped) byIdempotencyKey.delete(scoped);
      unsaved.delete(taskId);
      throw error;
    }
    logger.info({ taskId, tenant, gpus: hold.gpus, ...(waiting ? { waiting } : {}) }, "task submitted");
    const started = await admitWaiting();
    await started.get(taskId);
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
        // The first Submit failed after starting the task: announce it now.
        if (unannounced.has(task.taskId)) await announce(task.taskId);
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
      // A waiting task leaves the line at once, so it never starts; it ends as a running one does.
      const waiting = admission.withdraw(record.task.taskId);
      try {
        await endTask(record.task, TaskState.CANCELLED, request.reason.trim() || "cancelled by the client");
      } catch (error) {
        if (waiting) admission.requeue(waiting);
        throw error;
      }
      return { task: record.task };
    },

    async list(request, context) {
      const tenant = await tenantOf(context);
      await ready();
      return listPage(board.all(), request, tenant);
    },

    async *getArtifact(request, context) {
      const tenant = await tenantOf(context);
      const { task } = await found(request.taskId, tenant);
      const file = artifactFile(task, taskWorkspace(workspaceRoot, task.tenant, task.taskId), request);
      yield* streamArtifact(file, context.signal);
    },
  };

  return {
    name: "gateway",
    pipeline: { group: "gateway", handlers: projection },
    grpc: [serve(TaskService, taskService)],
    taskService,
    start: ready,
    async stop() {
      stopped = true;
      clearTimeout(tick);
      clearTimeout(sweepTimer);
      for (const timer of watchdogs.values()) clearTimeout(timer);
      watchdogs.clear();
      await loaded?.catch(() => undefined);
      await sweeping;
      await saving.idle();
      await store.close?.();
    },
  };
}

/** Longest delay a Node timer takes; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Longest wait between two retention sweeps by default. */
const MAX_SWEEP_EVERY_MS = 10 * 60_000;

/** When a task must be done: its start (its creation, for a task saved before starts were) plus its time limit. */
function deadlineOf(task: Task): number {
  const since = task.startedAt ?? task.createdAt;
  return (since ? timestampMs(since) : Date.now()) + durationMs(task.spec!.budget!.timeLimit!);
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
