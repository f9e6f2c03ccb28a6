import { create } from "@bufbuild/protobuf";
import { followEnvelope, type EventBus } from "@mlzero/bus";
import type { Logger } from "@mlzero/logging";
import { FinishedTasks, ProcessedSet, failTaskOnDomainError, runTimeLimitSeconds } from "@mlzero/pipeline";
import {
  CodeGeneratedSchema,
  CoderService,
  GenerateRequestSchema,
  Verdict,
  type EventEnvelope,
  type Fix,
  type TaskContext,
} from "@mlzero/proto";
import { serve } from "@mlzero/rpc";
import type { ServiceModule } from "@mlzero/service";
import type { Coder } from "./offline-coder.js";

/** Options for {@link createCoderModule}. */
export interface CoderModuleOptions {
  coder: Coder;
  bus: EventBus;
  logger: Logger;
}

/**
 * The coder service: `CoderService.Generate` for direct use, and on the bus
 * the first program after perception and a fixed program after every FIX.
 *
 * Redelivery: each iteration is generated once per process (`generated`,
 * keyed by task and iteration), so a TaskPerceived or IterationAnalyzed that
 * comes again is dropped. After a restart the coder may generate an
 * iteration again (it keeps no durable record; its programs embed the time
 * left, so a second one differs), and publishes a second CodeGenerated for
 * it. That is safe: the candidate id is derived from the iteration and tool,
 * the executor runs one program per iteration (the first it recorded) and
 * reports that one, and the gateway never moves a task back for an earlier
 * iteration's event.
 */
export function createCoderModule({ coder, bus, logger }: CoderModuleOptions): ServiceModule {
  const finished = new FinishedTasks();
  const generated = new ProcessedSet();

  async function generateAndPublish(
    cause: EventEnvelope | undefined,
    task: TaskContext | undefined,
    request: { iteration: number; fix?: Fix; previousTool?: string; previousAnalysis?: string },
  ): Promise<void> {
    if (!cause || finished.has(cause.taskId)) return;
    await generated.once(`${cause.tenant}/${cause.taskId}/${request.iteration}`, () => generateOnce(cause, task, request));
  }

  async function generateOnce(
    cause: EventEnvelope,
    task: TaskContext | undefined,
    request: { iteration: number; fix?: Fix; previousTool?: string; previousAnalysis?: string },
  ): Promise<void> {
    await failTaskOnDomainError(bus, cause, task, async () => {
      const program = await coder.generate(
        create(GenerateRequestSchema, {
          ...request,
          taskId: cause.taskId,
          tenant: cause.tenant,
          context: task?.perception,
          timeLimitSeconds: runTimeLimitSeconds(task),
        }),
      );
      logger.info({ taskId: cause.taskId, tenant: cause.tenant, iteration: request.iteration, tool: program.tool }, "program generated");
      await bus.publish(
        "CodeGenerated",
        create(CodeGeneratedSchema, { envelope: followEnvelope(cause, request.iteration), task, program }),
      );
    });
  }

  return {
    name: "coder",
    grpc: [
      serve(CoderService, {
        async generate(request) {
          return { program: await coder.generate(request) };
        },
      }),
    ],
    pipeline: {
      group: "coder",
      handlers: {
        TaskPerceived: async (event) => generateAndPublish(event.envelope, event.task, { iteration: 1 }),
        IterationAnalyzed: async (event) => {
          if (event.analysis?.verdict !== Verdict.FIX) return;
          await generateAndPublish(event.envelope, event.task, {
            iteration: (event.envelope?.iteration ?? 0) + 1,
            fix: event.analysis.fix,
            previousTool: event.program?.tool ?? "",
            previousAnalysis: event.analysis.summary,
          });
        },
        TaskFinished: async (event) => finished.add(event.envelope?.taskId ?? ""),
        TaskCancelRequested: async (event) => finished.add(event.envelope?.taskId ?? ""),
      },
    },
  };
}
