import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { setTimeout as sleep } from "node:timers/promises";
import { followEnvelope, type EventBus, type EventMessage } from "@mlzero/bus";
import { describeError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import { FinishedTasks, failTask, runTimeLimitSeconds } from "@mlzero/pipeline";
import {
  CodeGeneratedSchema,
  ExecutionFinishedSchema,
  ExecutionProgressSchema,
  ExecutionStartedSchema,
  ExecutorService,
  type CodeGenerated,
} from "@mlzero/proto";
import { serve } from "@mlzero/rpc";
import { metrics } from "@mlzero/telemetry";
import type { ServiceModule } from "@mlzero/service";
import { taskWorkspace } from "@mlzero/workspace";
import type { ProgramRunner, RunHandle, RunRequest } from "./program-runner.js";
import { findRunRecords, programSha256, readRunRecord } from "./run-record.js";

/** Options for {@link createExecutorModule}. */
export interface ExecutorModuleOptions {
  bus: EventBus;
  logger: Logger;
  workspaceRoot: string;
  runner: ProgramRunner;
  /** Limits for direct `Execute` calls that give none. */
  defaultTimeLimitMs?: number;
  defaultMemoryLimitBytes?: number;
  /** Delay before the first retry of a failed ExecutionFinished publish (doubles per attempt). */
  publishRetryMs?: number;
}

/** The executor's module, with the start step that takes over runs a previous executor left. */
export interface ExecutorModule extends ServiceModule {
  /**
   * Takes over the runs recorded under the workspace root and not yet
   * reported (a previous executor process died while they ran or before it
   * reported them): adopts the live ones, reports the ended ones, and
   * launches again a run whose process tree vanished without an exit status
   * (lost with its machine; the runner decides how often, then reports it
   * as interrupted).
   * Resolves once every run is taken over (not ended); runs once however
   * often it is called.
   */
  start(): Promise<void>;
}

const PUBLISH_ATTEMPTS = 5;

/**
 * The executor service. On the bus it hands each program to the runner and
 * returns once the run is durable (a handler never waits for a run: on Kafka
 * that would stall heartbeats), then reports start, progress and the finish
 * as events.
 *
 * Exactly one run per iteration, under at-least-once delivery and crashes:
 * - a CodeGenerated redelivered while this process handles its iteration is
 *   dropped (`handling`);
 * - otherwise the iteration's run record decides: the runner adopts the
 *   recorded run (running: waits for it; ended: its recorded result) instead
 *   of launching again, and a record already reported ends the matter;
 * - a CodeGenerated for an iteration whose run is recorded with another
 *   program or candidate (the coder generated the iteration again after a
 *   crash; its programs embed the time left, so they differ) adopts the
 *   recorded run and reports the program that really ran;
 * - after a crash, {@link ExecutorModule.start} finishes what was recorded.
 * ExecutionFinished is published once per run, with the event id recorded
 * with its result; only a crash between publishing it and recording that it
 * was reported publishes it again, with the same event id and result, and its
 * consumers (analyzer, gateway) de-duplicate per task, iteration and candidate.
 */
export function createExecutorModule(options: ExecutorModuleOptions): ExecutorModule {
  const { bus, logger, runner, workspaceRoot } = options;
  const finished = new FinishedTasks();
  // Iterations this process is starting or reporting; each is dropped once reported.
  const handling = new Set<string>();
  const reporting = new Set<Promise<void>>();
  let started: Promise<void> | undefined;

  function requestFor(event: CodeGenerated): RunRequest {
    const envelope = event.envelope!;
    const program = event.program!;
    const budget = event.task?.spec?.budget;
    return {
      taskId: envelope.taskId,
      tenant: envelope.tenant,
      iteration: envelope.iteration,
      program,
      workspace: taskWorkspace(workspaceRoot, envelope.tenant, envelope.taskId),
      // At least 1 ms: a run past its task's deadline stops at once (0 would mean the runner's default).
      timeLimitMs: Math.max(1, Math.floor(runTimeLimitSeconds(event.task) * 1000)),
      memoryLimitBytes: Number(budget?.memoryLimitBytes ?? 0n) || (options.defaultMemoryLimitBytes ?? 6 * 1024 ** 3),
      gpus: budget?.gpus ?? 0,
      context: toBinary(CodeGeneratedSchema, event),
      onProgress: ({ elapsedMs, logTail }) => {
        bus
          .publish(
            "ExecutionProgress",
            create(ExecutionProgressSchema, {
              envelope: followEnvelope(envelope),
              candidateId: program.candidateId,
              elapsed: durationFromMs(elapsedMs),
              logTail,
            }),
          )
          .catch((error: unknown) => logger.warn({ taskId: envelope.taskId, err: describeError(error) }, "progress not published"));
      },
    };
  }

  /**
   * Starts or adopts the run of a CodeGenerated (delivered, or recorded with
   * a run); resolves once the run is durable, and reports it when it ends.
   */
  async function takeOn(event: CodeGenerated): Promise<void> {
    const envelope = event.envelope!;
    const key = `${envelope.tenant}/${envelope.taskId}/${envelope.iteration}`;
    if (handling.has(key)) return;
    handling.add(key);
    try {
      const dir = taskWorkspace(workspaceRoot, envelope.tenant, envelope.taskId).iterationDir(envelope.iteration);
      const recorded = await readRunRecord(dir);
      let runEvent = event;
      if (recorded?.context) {
        runEvent = fromBinary(CodeGeneratedSchema, Buffer.from(recorded.context, "base64"));
        const program = event.program!;
        if (runEvent.program?.candidateId !== program.candidateId || programSha256(runEvent.program) !== programSha256(program)) {
          logger.warn(
            {
              taskId: envelope.taskId,
              tenant: envelope.tenant,
              iteration: envelope.iteration,
              candidateId: program.candidateId,
              recordedCandidateId: runEvent.program?.candidateId,
            },
            "iteration already has a run: reporting it instead of running this program",
          );
        }
      }
      const handle = await runner.start(requestFor(runEvent));
      if (handle.launched && (recorded?.state === "launching" || recorded?.state === "running")) {
        // A run a previous executor recorded: never started, or lost (its process tree gone with no exit status).
        logger.warn(
          { taskId: envelope.taskId, tenant: envelope.tenant, iteration: envelope.iteration, recordedState: recorded.state },
          "recorded run not running: launched again in its iteration folder",
        );
      }
      if (handle.reported) {
        handling.delete(key);
        return;
      }
      // Announced under the launch's id, an adopted run too: an executor
      // that died between launching and announcing leaves it to the next,
      // and a consumer drops a repeat of the same id. A queued run is
      // announced when it starts (recorded, so a restart announces it too).
      const announce = () => {
        const startedEnvelope = followEnvelope(envelope);
        startedEnvelope.eventId = handle.startId() || startedEnvelope.eventId;
        return create(ExecutionStartedSchema, { envelope: startedEnvelope, candidateId: runEvent.program!.candidateId });
      };
      if (handle.queued) {
        logger.info({ taskId: envelope.taskId, tenant: envelope.tenant, iteration: envelope.iteration }, "program queued for a free slot");
        void handle.started.then(() => publishPersistently("ExecutionStarted", announce(), envelope.taskId));
      } else {
        await bus.publish("ExecutionStarted", announce());
      }
      const report = reportWhenDone(runEvent, handle, key).finally(() => reporting.delete(report));
      reporting.add(report);
    } catch (error) {
      handling.delete(key);
      throw error;
    }
  }

  async function reportWhenDone(event: CodeGenerated, handle: RunHandle, key: string): Promise<void> {
    const envelope = event.envelope!;
    let result;
    try {
      result = await handle.result;
    } catch (error) {
      handling.delete(key);
      logger.error({ taskId: envelope.taskId, tenant: envelope.tenant, err: describeError(error) }, "program could not be run");
      await failTask(bus, envelope, event.task, "the executor could not run the program").catch(() => undefined);
      return;
    }
    logger.info(
      {
        taskId: envelope.taskId,
        tenant: envelope.tenant,
        iteration: envelope.iteration,
        exitCode: result.exitCode,
        interrupted: result.interrupted || undefined,
        seconds: durationMs(result.duration!) / 1000,
      },
      "program finished",
    );
    metrics.stage("execution", durationMs(result.duration!) / 1000, result.exitCode === 0 && !result.interrupted ? "ok" : "error");
    // The recorded event id: a repeat of this report after a crash carries the same one.
    const finishedEnvelope = followEnvelope(envelope);
    finishedEnvelope.eventId = handle.reportId() || finishedEnvelope.eventId;
    const message = create(ExecutionFinishedSchema, { envelope: finishedEnvelope, task: event.task, program: event.program, result });
    if (!(await publishPersistently("ExecutionFinished", message, envelope.taskId))) {
      // Left unreported: a redelivery, or the next executor's start, reports it.
      handling.delete(key);
      return;
    }
    await handle
      .markReported()
      .catch((error: unknown) => logger.warn({ taskId: envelope.taskId, err: describeError(error) }, "run not recorded as reported"));
    handling.delete(key);
  }

  /** Publishes outside a handler, retrying with backoff; false (logged) when it never went out. */
  async function publishPersistently<N extends "ExecutionStarted" | "ExecutionFinished">(
    name: N,
    message: EventMessage<N>,
    taskId: string,
  ): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await bus.publish(name, message);
        return true;
      } catch (error) {
        if (attempt >= PUBLISH_ATTEMPTS) {
          logger.error({ taskId, event: name, err: describeError(error) }, "event not published");
          return false;
        }
        await sleep((options.publishRetryMs ?? 500) * 2 ** (attempt - 1));
      }
    }
  }

  async function recover(): Promise<void> {
    const runs = (await findRunRecords(workspaceRoot)).filter(({ record }) => record.state !== "reported");
    for (const { dir, record } of runs) {
      const where = { taskId: record.taskId, tenant: record.tenant, iteration: record.iteration, state: record.state };
      try {
        if (record.context) {
          await takeOn(fromBinary(CodeGeneratedSchema, Buffer.from(record.context, "base64")));
        } else {
          // A direct Execute call's run: nobody to report to, but its limits
          // still hold and its end is recorded for a repeated call.
          const handle = await runner.adopt(dir);
          handle?.result.catch((error: unknown) => logger.warn({ ...where, err: describeError(error) }, "adopted run failed"));
        }
        logger.info(where, "took over a run left by a previous executor");
      } catch (error) {
        logger.error({ ...where, err: describeError(error) }, "could not take over a recorded run");
      }
    }
  }

  return {
    name: "executor",
    grpc: [
      serve(ExecutorService, {
        async execute(request) {
          const result = await runner.run({
            taskId: request.taskId,
            tenant: request.tenant,
            iteration: request.iteration,
            program: request.program!,
            workspace: taskWorkspace(workspaceRoot, request.tenant, request.taskId),
            timeLimitMs: request.timeLimit ? durationMs(request.timeLimit) : (options.defaultTimeLimitMs ?? 600_000),
            memoryLimitBytes: Number(request.memoryLimitBytes) || (options.defaultMemoryLimitBytes ?? 6 * 1024 ** 3),
            gpus: request.gpus,
          });
          return { result };
        },
        async cancel(request) {
          return { cancelled: await runner.cancel(request.tenant, request.taskId) };
        },
      }),
    ],
    pipeline: {
      group: "executor",
      handlers: {
        CodeGenerated: async (event) => {
          const envelope = event.envelope;
          if (!envelope || !event.program || finished.has(envelope.taskId)) return;
          await takeOn(event);
        },
        TaskCancelRequested: async (event) => {
          const envelope = event.envelope;
          if (!envelope) return;
          finished.add(envelope.taskId);
          await runner.cancel(envelope.tenant, envelope.taskId);
        },
        TaskFinished: async (event) => finished.add(event.envelope?.taskId ?? ""),
      },
    },
    start() {
      started ??= recover();
      return started;
    },
    async stop() {
      await started?.catch(() => undefined);
      await Promise.all([...reporting]);
    },
  };
}
