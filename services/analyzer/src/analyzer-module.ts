import { clone, create } from "@bufbuild/protobuf";
import { followEnvelope, type EventBus } from "@mlzero/bus";
import type { Logger } from "@mlzero/logging";
import { FinishedTasks, secondsLeft } from "@mlzero/pipeline";
import {
  AnalyzeRequestSchema,
  AnalyzerService,
  AttemptSchema,
  IterationAnalyzedSchema,
  TaskContextSchema,
  TaskFinishedSchema,
  TaskState,
  Verdict,
  type ExecutionFinished,
} from "@mlzero/proto";
import { serve } from "@mlzero/rpc";
import type { ServiceModule } from "@mlzero/service";
import { taskWorkspace } from "@mlzero/workspace";
import { analyze } from "./analyze.js";

/** Options for {@link createAnalyzerModule}. */
export interface AnalyzerModuleOptions {
  bus: EventBus;
  logger: Logger;
  workspaceRoot: string;
  defaultMaxIterations: number;
}

/**
 * The analyzer service: judges every finished run, records the attempt in
 * the task's context, and either asks the coder for a fix or ends the task.
 */
export function createAnalyzerModule({ bus, logger, workspaceRoot, defaultMaxIterations }: AnalyzerModuleOptions): ServiceModule {
  const finished = new FinishedTasks();

  async function judge(event: ExecutionFinished): Promise<void> {
    const envelope = event.envelope;
    if (!envelope || finished.has(envelope.taskId) || event.result?.cancelled) return;
    const task = event.task;
    const analysis = await analyze(
      create(AnalyzeRequestSchema, {
        taskId: envelope.taskId,
        tenant: envelope.tenant,
        iteration: envelope.iteration,
        context: task?.perception,
        program: event.program,
        result: event.result,
        budget: task?.spec?.budget,
        attempts: task?.attempts,
        secondsLeft: secondsLeft(task),
      }),
      { workspace: taskWorkspace(workspaceRoot, envelope.tenant, envelope.taskId), defaultMaxIterations },
    );
    const attempt = create(AttemptSchema, {
      iteration: envelope.iteration,
      tool: event.program?.tool,
      verdict: analysis.verdict,
      failure: analysis.failure,
      score: analysis.score,
      candidateId: event.program?.candidateId,
      analysis: analysis.summary,
      duration: event.result?.duration,
    });
    const next = task ? clone(TaskContextSchema, task) : create(TaskContextSchema);
    next.attempts.push(attempt);
    logger.info(
      {
        taskId: envelope.taskId,
        tenant: envelope.tenant,
        iteration: envelope.iteration,
        verdict: Verdict[analysis.verdict],
        summary: analysis.summary,
      },
      "iteration analyzed",
    );
    await bus.publish(
      "IterationAnalyzed",
      create(IterationAnalyzedSchema, {
        envelope: followEnvelope(envelope),
        task: next,
        program: event.program,
        result: event.result,
        analysis,
      }),
    );
    if (analysis.verdict === Verdict.FIX) return;
    const succeeded = analysis.verdict === Verdict.SUCCESS;
    await bus.publish(
      "TaskFinished",
      create(TaskFinishedSchema, {
        envelope: followEnvelope(envelope),
        state: succeeded ? TaskState.SUCCEEDED : TaskState.FAILED,
        reason: succeeded
          ? `succeeded in iteration ${envelope.iteration} with ${event.program?.tool}`
          : `gave up after ${envelope.iteration} iteration(s): ${analysis.summary}`,
        bestIteration: succeeded ? envelope.iteration : 0,
        bestProgram: succeeded ? event.program : undefined,
        score: succeeded ? analysis.score : undefined,
        metric: analysis.metric,
        predictionsPath: succeeded ? analysis.predictionsPath : "",
        task: next,
      }),
    );
  }

  return {
    name: "analyzer",
    grpc: [
      serve(AnalyzerService, {
        async analyze(request) {
          return {
            analysis: await analyze(request, {
              workspace: taskWorkspace(workspaceRoot, request.tenant, request.taskId),
              defaultMaxIterations,
            }),
          };
        },
      }),
    ],
    pipeline: {
      group: "analyzer",
      handlers: {
        ExecutionFinished: judge,
        TaskCancelRequested: async (event) => finished.add(event.envelope?.taskId ?? ""),
        TaskFinished: async (event) => finished.add(event.envelope?.taskId ?? ""),
      },
    },
  };
}
