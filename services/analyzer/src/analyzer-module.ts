import { clone, create } from "@bufbuild/protobuf";
import { followEnvelope, type EventBus } from "@mlzero/bus";
import type { Logger } from "@mlzero/logging";
import { FinishedTasks, ProcessedSet, secondsLeft } from "@mlzero/pipeline";
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
  type IterationAnalyzed,
  type TaskFinished,
} from "@mlzero/proto";
import { serve } from "@mlzero/rpc";
import type { ServiceModule } from "@mlzero/service";
import { taskWorkspace } from "@mlzero/workspace";
import { analyze, type LessonSource } from "./analyze.js";
import { readVerdict, writeVerdict } from "./verdict-record.js";

/** Options for {@link createAnalyzerModule}. */
export interface AnalyzerModuleOptions {
  bus: EventBus;
  logger: Logger;
  workspaceRoot: string;
  defaultMaxIterations: number;
  /** The memory service's lessons: fixes that worked for the same failure in earlier tasks. */
  lessons?: LessonSource;
}

/**
 * The analyzer service: judges every finished run, records the attempt in
 * the task's context, and either asks the coder for a fix or ends the task.
 *
 * One verdict per candidate run, however often its ExecutionFinished comes
 * (the executor publishes it again only after a crash, with the same event
 * id and result): a repeat in this process is dropped (`processed`); the
 * verdict is recorded in the iteration folder (verdict.json) before its
 * events are published, so a restarted analyzer re-publishes the recorded
 * events (same ids, same outcome) instead of judging again, and once they
 * are marked published drops the repeat. A duplicate published by a crash
 * between publishing and marking is safe downstream: the coder generates the
 * same iteration again, whose candidate the executor has already recorded
 * (one run per iteration), and the gateway ignores what it has seen.
 */
export function createAnalyzerModule({ bus, logger, workspaceRoot, defaultMaxIterations, lessons }: AnalyzerModuleOptions): ServiceModule {
  const finished = new FinishedTasks();
  const processed = new ProcessedSet();

  async function judge(event: ExecutionFinished): Promise<void> {
    const envelope = event.envelope;
    if (!envelope || finished.has(envelope.taskId) || event.result?.cancelled) return;
    const candidateId = event.program?.candidateId ?? event.result?.candidateId ?? "";
    const key = `${envelope.tenant}/${envelope.taskId}/${envelope.iteration}/${candidateId}`;
    await processed.once(key, async () => {
      const iterationDir = taskWorkspace(workspaceRoot, envelope.tenant, envelope.taskId).iterationDir(envelope.iteration);
      let verdict = await readVerdict(iterationDir, candidateId);
      if (verdict?.published) return;
      if (!verdict) {
        verdict = { candidateId, ...(await decide(event)), published: false };
        await writeVerdict(iterationDir, verdict);
      }
      await bus.publish("IterationAnalyzed", verdict.analyzed);
      if (verdict.finished) await bus.publish("TaskFinished", verdict.finished);
      await writeVerdict(iterationDir, { ...verdict, published: true });
    });
  }

  /** Judges a run: the IterationAnalyzed to publish, and the TaskFinished when the task ends. */
  async function decide(event: ExecutionFinished): Promise<{ analyzed: IterationAnalyzed; finished: TaskFinished | undefined }> {
    const envelope = event.envelope!;
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
      { workspace: taskWorkspace(workspaceRoot, envelope.tenant, envelope.taskId), defaultMaxIterations, lessons },
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
    const analyzed = create(IterationAnalyzedSchema, {
      envelope: followEnvelope(envelope),
      task: next,
      program: event.program,
      result: event.result,
      analysis,
    });
    if (analysis.verdict === Verdict.FIX) return { analyzed, finished: undefined };
    const succeeded = analysis.verdict === Verdict.SUCCESS;
    const taskFinished = create(TaskFinishedSchema, {
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
    });
    return { analyzed, finished: taskFinished };
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
              lessons,
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
