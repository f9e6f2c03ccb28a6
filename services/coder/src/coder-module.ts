import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { followEnvelope, type EventBus } from "@mlzero/bus";
import type { Logger } from "@mlzero/logging";
import { FinishedTasks, ProcessedSet, failTaskOnDomainError, runTimeLimitSeconds } from "@mlzero/pipeline";
import {
  CodeGeneratedSchema,
  CoderService,
  GenerateRequestSchema,
  type EventEnvelope,
  type Program,
  type RoundPlanned,
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
 * one program per candidate of every round the analyzer plans, built at once
 * so the executor can run a round's candidates side by side.
 *
 * Redelivery: each iteration is generated once per process (`generated`,
 * keyed by task and iteration), so a RoundPlanned that comes again is
 * dropped. After a restart the coder may generate an iteration again (it
 * keeps no durable record; its programs embed the time left, so a second one
 * differs), and publishes a second CodeGenerated for it. That is safe: the
 * candidate id is derived from the iteration and tool, the executor runs one
 * program per iteration (the first it recorded) and reports that one, and
 * the gateway never moves a task back for an earlier iteration's event.
 */
export function createCoderModule({ coder, bus, logger }: CoderModuleOptions): ServiceModule {
  const finished = new FinishedTasks();
  const generated = new ProcessedSet();

  async function buildRound(event: RoundPlanned): Promise<void> {
    const cause = event.envelope;
    if (!cause || finished.has(cause.taskId)) return;
    const attempts = event.task?.attempts ?? [];
    await Promise.all(
      event.candidates.map((candidate) =>
        generated.once(`${cause.tenant}/${cause.taskId}/${candidate.iteration}`, async () => {
          const parent = attempts.find((attempt) => attempt.iteration === candidate.parentIteration);
          await generateAndPublish(cause, event.task, {
            iteration: candidate.iteration,
            candidate,
            fix: candidate.fix,
            previousTool: parent?.tool ?? "",
            previousAnalysis: parent?.analysis ?? "",
            parentCode: event.parentCode[candidate.parentIteration] ?? "",
          });
        }),
      ),
    );
  }

  async function generateAndPublish(
    cause: EventEnvelope,
    task: TaskContext | undefined,
    request: MessageInitShape<typeof GenerateRequestSchema> & { iteration: number },
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
      // The node the program was built for travels with it: the analyzer closes the round by it.
      program.candidate = request.candidate as Program["candidate"];
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
      stages: { RoundPlanned: "coding" },
      handlers: {
        RoundPlanned: buildRound,
        TaskFinished: async (event) => finished.add(event.envelope?.taskId ?? ""),
        TaskCancelRequested: async (event) => finished.add(event.envelope?.taskId ?? ""),
      },
    },
  };
}
