import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { followEnvelope, type EventBus } from "@mlzero/bus";
import { describeError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import { FinishedTasks, failTask, runTimeLimitSeconds } from "@mlzero/pipeline";
import {
  ExecutionFinishedSchema,
  ExecutionProgressSchema,
  ExecutionStartedSchema,
  ExecutorService,
  type CodeGenerated,
} from "@mlzero/proto";
import { serve } from "@mlzero/rpc";
import type { ServiceModule } from "@mlzero/service";
import { taskWorkspace } from "@mlzero/workspace";
import type { ProgramRunner } from "./program-runner.js";

/** Options for {@link createExecutorModule}. */
export interface ExecutorModuleOptions {
  bus: EventBus;
  logger: Logger;
  workspaceRoot: string;
  runner: ProgramRunner;
  /** Limits for direct `Execute` calls that give none. */
  defaultTimeLimitMs?: number;
  defaultMemoryLimitBytes?: number;
}

/**
 * The executor service. On the bus it hands each program to the runner and
 * returns at once (a handler never waits for a run: on Kafka that would stall
 * heartbeats), then reports start, progress and the finish as events. Each
 * candidate runs once per process even when its event is redelivered.
 */
export function createExecutorModule(options: ExecutorModuleOptions): ServiceModule {
  const { bus, logger, runner, workspaceRoot } = options;
  const finished = new FinishedTasks();
  const started = new Set<string>();
  const running = new Set<Promise<void>>();

  async function runAndReport(event: CodeGenerated): Promise<void> {
    const envelope = event.envelope!;
    const program = event.program!;
    const budget = event.task?.spec?.budget;
    const result = await runner.run({
      taskId: envelope.taskId,
      tenant: envelope.tenant,
      iteration: envelope.iteration,
      program,
      workspace: taskWorkspace(workspaceRoot, envelope.tenant, envelope.taskId),
      timeLimitMs: runTimeLimitSeconds(event.task) * 1000,
      memoryLimitBytes: Number(budget?.memoryLimitBytes ?? 0n) || (options.defaultMemoryLimitBytes ?? 6 * 1024 ** 3),
      gpus: budget?.gpus ?? 0,
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
    });
    logger.info(
      {
        taskId: envelope.taskId,
        tenant: envelope.tenant,
        iteration: envelope.iteration,
        exitCode: result.exitCode,
        seconds: durationMs(result.duration!) / 1000,
      },
      "program finished",
    );
    await bus.publish(
      "ExecutionFinished",
      create(ExecutionFinishedSchema, { envelope: followEnvelope(envelope), task: event.task, program, result }),
    );
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
          const key = `${envelope.tenant}/${envelope.taskId}/${event.program.candidateId}`;
          if (started.has(key)) return;
          started.add(key);
          await bus.publish(
            "ExecutionStarted",
            create(ExecutionStartedSchema, { envelope: followEnvelope(envelope), candidateId: event.program.candidateId }),
          );
          const run = runAndReport(event)
            .catch(async (error: unknown) => {
              logger.error({ taskId: envelope.taskId, tenant: envelope.tenant, err: describeError(error) }, "program could not be run");
              await failTask(bus, envelope, event.task, "the executor could not run the program").catch(() => undefined);
            })
            .finally(() => running.delete(run));
          running.add(run);
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
    async stop() {
      await Promise.all([...running]);
    },
  };
}
