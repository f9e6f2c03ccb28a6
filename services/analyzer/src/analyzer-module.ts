import { readdir } from "node:fs/promises";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { followEnvelope, type EventBus } from "@mlzero/bus";
import type { Logger } from "@mlzero/logging";
import { FinishedTasks, KeyedQueue, ProcessedSet, secondsLeft } from "@mlzero/pipeline";
import { sumUsage, usageTotals } from "@mlzero/llm/usage";
import {
  AnalyzeRequestSchema,
  AnalyzerService,
  AttemptSchema,
  CandidateKind,
  FailureCategory,
  IterationAnalyzedSchema,
  RoundPlannedSchema,
  TaskContextSchema,
  TaskFinishedSchema,
  TaskState,
  Verdict,
  type Attempt,
  type Candidate,
  type EventEnvelope,
  type ExecutionFinished,
  type IterationAnalyzed,
  type LlmUsage,
  type TaskContext,
  type TaskPerceived,
} from "@mlzero/proto";
import { serve } from "@mlzero/rpc";
import type { ServiceModule } from "@mlzero/service";
import { taskWorkspace } from "@mlzero/workspace";
import { analyze, type LessonSource } from "./analyze.js";
import type { AnalyzerAgents } from "./llm-agents.js";
import { readDecision, writeDecision, type DecidedEvent, type Decision } from "./decision-record.js";
import { firstRound, nextRound, type SearchLimits, type SearchNode, type SearchStep } from "./search.js";

/** Options for {@link createAnalyzerModule}. */
export interface AnalyzerModuleOptions {
  bus: EventBus;
  logger: Logger;
  workspaceRoot: string;
  defaultMaxIterations: number;
  /** Candidates run at once when a task's budget says 0 (1: the single loop). */
  defaultParallelism?: number;
  /** Rounds improving the best programs after the first success (see SearchLimits.improveRounds); 0 by default. */
  improveRounds?: number;
  /** The memory service's lessons: fixes that worked for the same failure in earlier tasks. */
  lessons?: LessonSource;
  /** The LLM agents (verdict, error analysis) when an LLM endpoint is configured; without them the analyzer decides alone. */
  agents?: AnalyzerAgents;
}

/** The verdict on a run, in its iteration folder. */
export const VERDICT_FILE = "verdict.json";
const ITERATION_FOLDER = /^iter-\d{3,}$/;

/**
 * The analyzer service: judges every finished run and plans the search over
 * programs. After perception it plans the first round (the top-ranked tools,
 * as many as the task runs at once); once every run of a round is judged it
 * plans the next round (fixes of the failed runs, untried tools) or ends the
 * task with the best run by validation score.
 *
 * Redelivery: one verdict per candidate run and one plan per round, however
 * often their input comes (the executor publishes ExecutionFinished again
 * only after a crash, with the same event id and result). A repeat in this
 * process is dropped (`processed`); every decision is recorded in the task's
 * folder before its events are published (decision-record.ts), so a
 * restarted analyzer re-publishes the recorded events (same ids, same
 * outcome) instead of deciding again, and once they are marked published
 * drops the repeat. A duplicate published by a crash between publishing and
 * marking is safe downstream: the coder builds a candidate whose iteration
 * the executor has already recorded (one run per iteration), and the gateway
 * ignores what it has seen. A task's decisions are taken one at a time
 * (`serial`), so the last two runs of a round finishing together plan it once.
 */
export function createAnalyzerModule({
  bus,
  logger,
  workspaceRoot,
  defaultMaxIterations,
  defaultParallelism = 1,
  improveRounds = 0,
  lessons,
  agents,
}: AnalyzerModuleOptions): ServiceModule {
  const finished = new FinishedTasks();
  const processed = new ProcessedSet();
  const serial = new KeyedQueue();

  async function judge(event: ExecutionFinished): Promise<void> {
    const envelope = event.envelope;
    if (!envelope || finished.has(envelope.taskId) || event.result?.cancelled) return;
    const candidateId = event.program?.candidateId ?? event.result?.candidateId ?? "";
    const key = `${envelope.tenant}/${envelope.taskId}/${envelope.iteration}/${candidateId}`;
    await serial.run(`${envelope.tenant}/${envelope.taskId}`, () =>
      processed.once(key, async () => {
        const workspace = taskWorkspace(workspaceRoot, envelope.tenant, envelope.taskId);
        const file = path.join(workspace.iterationDir(envelope.iteration), VERDICT_FILE);
        let verdict = await readDecision(file, candidateId);
        if (verdict?.published) return;
        if (!verdict) {
          verdict = { key: candidateId, events: [{ name: "IterationAnalyzed", message: await judgeRun(event) }], published: false };
          await writeDecision(file, verdict);
        }
        await publishAll(verdict);
        const candidate = candidateOf(event);
        const nodes = await judgedNodes(workspace.taskDir);
        if (candidate.roundIterations.every((iteration) => nodes.has(iteration))) {
          await decideOnce(workspace.taskDir, candidate.round, () => afterRound(envelope, event.task, nodes));
        }
        await writeDecision(file, { ...verdict, published: true });
      }),
    );
  }

  /** Plans the first round once per task. */
  async function planFirstRound(event: TaskPerceived): Promise<void> {
    const envelope = event.envelope;
    const context = event.task?.perception;
    if (!envelope || !context || finished.has(envelope.taskId)) return;
    const workspace = taskWorkspace(workspaceRoot, envelope.tenant, envelope.taskId);
    await serial.run(`${envelope.tenant}/${envelope.taskId}`, () =>
      processed.once(`${envelope.tenant}/${envelope.taskId}/round-0`, () =>
        decideOnce(workspace.taskDir, 0, async () => [
          searchEvent(envelope, event.task!, firstRound(context, limitsOf(event.task!, [])), new Map()),
        ]),
      ),
    );
  }

  /** Runs a round's decision once: recorded before publishing, re-published after a crash. */
  async function decideOnce(taskDir: string, round: number, decide: () => Promise<DecidedEvent[]>): Promise<void> {
    const file = path.join(taskDir, "search", `round-${String(round).padStart(3, "0")}.json`);
    const key = `round-${round}`;
    let decision = await readDecision(file, key);
    if (decision?.published) return;
    if (!decision) {
      decision = { key, events: await decide(), published: false };
      await writeDecision(file, decision);
    }
    await publishAll(decision);
    await writeDecision(file, { ...decision, published: true });
  }

  async function publishAll(decision: Decision): Promise<void> {
    for (const event of decision.events) await bus.publish(event.name, event.message as never);
  }

  /** Judges one run: the IterationAnalyzed to publish. */
  async function judgeRun(event: ExecutionFinished): Promise<IterationAnalyzed> {
    const envelope = event.envelope!;
    const task = event.task;
    const workspace = taskWorkspace(workspaceRoot, envelope.tenant, envelope.taskId);
    // Every run judged so far, siblings of this round included: a tool that failed beside it is not tried again.
    const attempts = attemptsOf(await judgedNodes(workspace.taskDir));
    const analysis = await analyze(
      create(AnalyzeRequestSchema, {
        taskId: envelope.taskId,
        tenant: envelope.tenant,
        iteration: envelope.iteration,
        context: task?.perception,
        program: event.program,
        result: event.result,
        budget: task?.spec?.budget,
        attempts,
        secondsLeft: secondsLeft(task),
      }),
      { workspace, defaultMaxIterations, lessons, agents },
    );
    const next = task ? create(TaskContextSchema, { ...task, attempts }) : create(TaskContextSchema, { attempts });
    next.attempts = [
      ...attempts,
      attemptOf(envelope.iteration, create(IterationAnalyzedSchema, { program: event.program, result: event.result, analysis })),
    ];
    logger.info(
      {
        taskId: envelope.taskId,
        tenant: envelope.tenant,
        iteration: envelope.iteration,
        verdict: Verdict[analysis.verdict],
        // The category, not the summary: a summary quotes the program's output, which may hold data values.
        failure: analysis.failure ? FailureCategory[analysis.failure] : undefined,
        score: analysis.score,
      },
      "iteration analyzed",
    );
    return create(IterationAnalyzedSchema, {
      envelope: followEnvelope(envelope),
      task: next,
      program: event.program,
      result: event.result,
      analysis,
    });
  }

  /** Once a round's runs are all judged: the next round, or the end of the task. */
  async function afterRound(
    envelope: EventEnvelope,
    task: TaskContext | undefined,
    nodes: Map<number, IterationAnalyzed>,
  ): Promise<DecidedEvent[]> {
    const context = create(TaskContextSchema, { ...task, attempts: attemptsOf(nodes) });
    const searchNodes = [...nodes.entries()].map(([iteration, analyzed]) => nodeOf(iteration, analyzed));
    const step = nextRound(searchNodes, context.perception!, limitsOf(context, [...nodes.values()]));
    return [searchEvent(envelope, context, step, nodes)];
  }

  /** The event that carries a search step: a RoundPlanned, or the TaskFinished with the best run. */
  function searchEvent(envelope: EventEnvelope, task: TaskContext, step: SearchStep, nodes: Map<number, IterationAnalyzed>): DecidedEvent {
    logger.info({ taskId: envelope.taskId, tenant: envelope.tenant, step: step.kind, reason: step.reason }, "search step");
    if (step.kind === "round") {
      const parentCode: Record<number, string> = {};
      for (const candidate of step.candidates) {
        const code = nodes.get(candidate.parentIteration)?.program?.code;
        if (code !== undefined) parentCode[candidate.parentIteration] = code;
      }
      return {
        name: "RoundPlanned",
        message: create(RoundPlannedSchema, {
          envelope: followEnvelope(envelope, step.candidates[0]!.iteration),
          task,
          round: step.round,
          candidates: step.candidates,
          reason: step.reason,
          parentCode,
        }),
      };
    }
    const best = step.best ? nodes.get(step.best.iteration) : undefined;
    const metric = task.perception?.metric?.name ?? "";
    return {
      name: "TaskFinished",
      message: create(TaskFinishedSchema, {
        envelope: followEnvelope(envelope),
        state: best ? TaskState.SUCCEEDED : TaskState.FAILED,
        reason: step.reason,
        bestIteration: step.best?.iteration ?? 0,
        bestProgram: best?.program,
        score: best?.analysis?.score,
        metric: best?.analysis?.metric || metric,
        predictionsPath: best?.analysis?.predictionsPath ?? "",
        task,
        llmUsage: sumUsage(llmUsageOf(task, [...nodes.values()])),
      }),
    };
  }

  function limitsOf(task: TaskContext, nodes: IterationAnalyzed[]): SearchLimits {
    const budget = task.spec?.budget;
    const hasDeadline = budget?.timeLimit !== undefined && durationMs(budget.timeLimit) > 0;
    const { tokens, costUsd } = usageTotals(llmUsageOf(task, nodes));
    return {
      maxIterations: budget?.maxIterations || defaultMaxIterations,
      parallelism: budget?.parallelism || defaultParallelism,
      gpus: { perRun: budget?.gpus ?? 0, max: budget?.maxGpus ?? 0 },
      improveRounds,
      ...(hasDeadline ? { secondsLeft: secondsLeft(task) } : {}),
      llm: { tokens, maxTokens: Number(budget?.maxLlmTokens ?? 0n), costUsd, maxCostUsd: budget?.maxLlmCostUsd ?? 0 },
    };
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
              agents,
            }),
          };
        },
      }),
    ],
    pipeline: {
      group: "analyzer",
      stages: { ExecutionFinished: "analysis" },
      handlers: {
        TaskPerceived: planFirstRound,
        ExecutionFinished: judge,
        TaskCancelRequested: async (event) => finished.add(event.envelope?.taskId ?? ""),
        TaskFinished: async (event) => finished.add(event.envelope?.taskId ?? ""),
      },
    },
  };
}

/** Every LLM call of a task so far: perception's, and each judged run's coder and analyzer calls. */
function llmUsageOf(task: TaskContext, nodes: IterationAnalyzed[]): LlmUsage[] {
  return [
    ...(task.perception?.llmUsage ?? []),
    ...nodes.flatMap((node) => [...(node.program?.llmUsage ?? []), ...(node.analysis?.llmUsage ?? [])]),
  ];
}

/** The search node a run was built for; a program without one (built outside the search) is a round of its own. */
function candidateOf(event: ExecutionFinished): Pick<Candidate, "round" | "roundIterations"> {
  const candidate = event.program?.candidate;
  if (candidate && candidate.roundIterations.length > 0) return candidate;
  const iteration = event.envelope!.iteration;
  return { round: iteration, roundIterations: [iteration] };
}

/** The recorded verdicts of a task's runs, by iteration. */
async function judgedNodes(taskDir: string): Promise<Map<number, IterationAnalyzed>> {
  const folders = await readdir(taskDir).catch(() => [] as string[]);
  const nodes = new Map<number, IterationAnalyzed>();
  for (const folder of folders.filter((name) => ITERATION_FOLDER.test(name))) {
    const verdict = await readDecision(path.join(taskDir, folder, VERDICT_FILE));
    const analyzed = verdict?.events.find((event) => event.name === "IterationAnalyzed")?.message as IterationAnalyzed | undefined;
    if (analyzed) nodes.set(Number(folder.slice("iter-".length)), analyzed);
  }
  return nodes;
}

function attemptsOf(nodes: Map<number, IterationAnalyzed>): Attempt[] {
  return [...nodes.entries()].sort(([a], [b]) => a - b).map(([iteration, analyzed]) => attemptOf(iteration, analyzed));
}

function attemptOf(iteration: number, analyzed: IterationAnalyzed): Attempt {
  const { program, result, analysis } = analyzed;
  return create(AttemptSchema, {
    iteration,
    tool: program?.tool,
    verdict: analysis?.verdict,
    failure: analysis?.failure,
    score: analysis?.score,
    candidateId: program?.candidateId,
    analysis: analysis?.summary,
    duration: result?.duration,
  });
}

function nodeOf(iteration: number, analyzed: IterationAnalyzed): SearchNode {
  const { program, analysis } = analyzed;
  return {
    iteration,
    round: program?.candidate?.round || iteration,
    tool: program?.tool ?? "",
    kind: program?.candidate?.kind ?? CandidateKind.UNSPECIFIED,
    reduceLevel: program?.candidate?.fix?.reduceLevel ?? 0,
    verdict: analysis?.verdict ?? Verdict.UNSPECIFIED,
    failure: analysis?.failure ?? 0,
    ...(analysis?.score === undefined ? {} : { score: analysis.score }),
    ...(analysis?.fix ? { fix: analysis.fix } : {}),
    summary: analysis?.summary ?? "",
  };
}
