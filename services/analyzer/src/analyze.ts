import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { InvalidInputError } from "@mlzero/errors";
import { ITERATION_FILES, OUTPUTS_DIR, RESULT_MARKER, type ProgramResult } from "@mlzero/program";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  AnalysisSchema,
  FailureCategory,
  Verdict,
  type AnalyzeRequest,
  type Analysis,
  type ExecutionResult,
  type FindLessonsRequestSchema,
  type FindLessonsResponse,
  type Fix,
  type PerceptualContext,
} from "@mlzero/proto";
import { TABLE_FORMATS, type TableFormat } from "@mlzero/tables";
import { iterationName, resolveInside, type TaskWorkspace } from "@mlzero/workspace";
import { checkPredictions, type PredictionsReport } from "./check-predictions.js";
import { classifyFailure, type FailureDiagnosis } from "./classify-failure.js";
import { decideNextStep } from "./decide-next-step.js";
import { explainFailure, reviewSuccess, type AnalyzerAgents } from "./llm-agents.js";
import { formatCheck } from "./output-check.js";
import { readLogEnd, readResult } from "./read-logs.js";

/** The part of the memory service the analyzer asks: fixes that worked before. */
export interface LessonSource {
  findLessons(request: MessageInitShape<typeof FindLessonsRequestSchema>): Promise<FindLessonsResponse>;
}

/** What `analyze` needs besides the request. */
export interface AnalyzerDeps {
  workspace: TaskWorkspace;
  /** Iterations a task may use when its budget says 0. */
  defaultMaxIterations: number;
  /** Lessons of earlier tasks; without it (or when it fails) the analyzer decides alone. */
  lessons?: LessonSource;
  /**
   * The LLM agents (verdict, error analysis), when an LLM endpoint is
   * configured: they review the analyzer's own decision, which stands when
   * they are unavailable. Without them the analyzer decides alone.
   */
  agents?: AnalyzerAgents;
}

/** How much of each log the failure classification reads, from the end. */
const STDERR_BYTES = 64 * 1024;
const STDOUT_BYTES = 16 * 1024;

/**
 * Judges one program run: checks its predictions when it exited cleanly,
 * classifies the failure when not, reads the validation score it reported,
 * and decides SUCCESS, FIX (with what to change) or GIVE_UP.
 */
export async function analyze(request: AnalyzeRequest, deps: AnalyzerDeps): Promise<Analysis> {
  const { result, context } = request;
  if (result === undefined) throw new InvalidInputError("an analyze request needs the execution result");
  if (context === undefined) throw new InvalidInputError("an analyze request needs the perceptual context");
  const iterationDir = deps.workspace.iterationDir(request.iteration);
  const reported = await readResult(path.join(iterationDir, ITERATION_FILES.stdout));
  const scored = { metric: reported?.metric ?? context.metric?.name ?? "", ...(reported ? { score: reported.score } : {}) };

  let diagnosis: FailureDiagnosis;
  let checks: string[] = [];
  const cleanExit = !result.cancelled && !result.timedOut && result.exitCode === 0 && result.signal === "";
  if (cleanExit) {
    const fileName = context.output?.fileName ?? "";
    if (fileName === "") throw new InvalidInputError("the perceptual context names no output file");
    const relativePath = `${iterationName(request.iteration)}/${OUTPUTS_DIR}/${fileName}`;
    const report = await checkPredictions({
      predictionsPath: resolveInside(path.join(iterationDir, OUTPUTS_DIR), fileName),
      displayPath: relativePath,
      ...testFile(context, deps.workspace),
      context,
    });
    checks = [...report.checks.map(formatCheck), scoreCheck(reported, context)];
    if (report.passed) {
      const score = reported ? `; validation ${reported.metric} = ${reported.score}` : "; it reported no validation score";
      const success = create(AnalysisSchema, {
        verdict: Verdict.SUCCESS,
        failure: FailureCategory.NONE,
        summary: `The program wrote valid predictions to ${relativePath}${score}.`,
        predictionsPath: relativePath,
        checks,
        ...scored,
      });
      if (!deps.agents) return success;
      const tool = request.program?.tool || request.attempts.at(-1)?.tool || "";
      return reviewSuccess(deps.agents, success, {
        context,
        tool,
        checks,
        ...(reported ? { reported } : {}),
        ...(await logTails(iterationDir, result)),
        iteration: request.iteration,
        attempts: request.attempts,
        maxIterations: request.budget?.maxIterations || deps.defaultMaxIterations,
        ...(hasDeadline(request) ? { secondsLeft: request.secondsLeft } : {}),
      });
    }
    diagnosis = outputFailure(report, relativePath, result);
  } else {
    diagnosis = classifyFailure({
      result,
      stderr: (await readLogEnd(path.join(iterationDir, ITERATION_FILES.stderr), STDERR_BYTES)) ?? result.stderrTail,
      stdout: (await readLogEnd(path.join(iterationDir, ITERATION_FILES.stdout), STDOUT_BYTES)) ?? result.stdoutTail,
    });
  }

  const tool = request.program?.tool || request.attempts.at(-1)?.tool || "";
  const budget = request.budget;
  const step = decideNextStep({
    diagnosis,
    iteration: request.iteration,
    tool,
    attempts: request.attempts,
    context,
    maxIterations: budget?.maxIterations || deps.defaultMaxIterations,
    ...(hasDeadline(request) ? { secondsLeft: request.secondsLeft } : {}),
  });
  if (step.kind === "give_up") {
    return create(AnalysisSchema, {
      failure: diagnosis.category,
      checks,
      ...scored,
      verdict: Verdict.GIVE_UP,
      summary: `${diagnosis.summary.replace(/\.?$/, ".")} Giving up: ${step.reason}.`,
    });
  }
  const fix = (await learnedFix(request, tool, diagnosis, deps.lessons)) ?? step.fix;
  const analysis = create(AnalysisSchema, {
    failure: diagnosis.category,
    checks,
    ...scored,
    verdict: Verdict.FIX,
    summary: diagnosis.summary,
    fix,
  });
  if (!deps.agents) return analysis;
  return explainFailure(deps.agents, analysis, {
    context,
    tool,
    diagnosis,
    attempts: request.attempts,
    ...(await logTails(iterationDir, result)),
    code: request.program?.code ?? "",
  });
}

/** How much of each log the LLM agents get, from the end (their prompts cut further). */
const AGENT_LOG_BYTES = 16 * 1024;

/** The ends of the run's logs for the LLM agents, or the result's tails when the logs are not there. */
async function logTails(iterationDir: string, result: ExecutionResult): Promise<{ stdout: string; stderr: string }> {
  return {
    stdout: (await readLogEnd(path.join(iterationDir, ITERATION_FILES.stdout), AGENT_LOG_BYTES)) ?? result.stdoutTail,
    stderr: (await readLogEnd(path.join(iterationDir, ITERATION_FILES.stderr), AGENT_LOG_BYTES)) ?? result.stderrTail,
  };
}

function hasDeadline(request: AnalyzeRequest): boolean {
  const limit = request.budget?.timeLimit;
  return limit !== undefined && (limit.seconds > 0n || limit.nanos > 0);
}

/**
 * The fix that worked for the same failure of the same tool in an earlier
 * task of the tenant (ranked by the words of this failure), when it names a
 * tool perception found fit and this task has not failed with yet. Lessons
 * are advice: without one, or without memory, the analyzer's own decision
 * stands.
 */
async function learnedFix(
  request: AnalyzeRequest,
  tool: string,
  diagnosis: FailureDiagnosis,
  lessons: LessonSource | undefined,
): Promise<Fix | undefined> {
  if (!lessons || !tool) return undefined;
  const found = await lessons
    .findLessons({
      tenant: request.tenant,
      tool,
      failure: diagnosis.category,
      query: diagnosis.summary,
      excludeTaskId: request.taskId,
      limit: 3,
    })
    .catch(() => ({ lessons: [] }));
  const failedHere = new Set([tool, ...request.attempts.map((attempt) => attempt.tool)]);
  const lesson = found.lessons.find(
    (candidate) =>
      candidate.fix?.tool && !failedHere.has(candidate.fix.tool) && request.context!.tools.some((fit) => fit.name === candidate.fix!.tool),
  );
  if (!lesson?.fix) return undefined;
  return {
    ...lesson.fix,
    plan: `${lesson.fix.plan.replace(/\.?$/, "")} (this fixed the same ${FailureCategory[lesson.failure]} failure of ${tool} in task ${lesson.taskId}).`,
  };
}

/** The test file to compare with, when perception found one. */
function testFile(context: PerceptualContext, workspace: TaskWorkspace): { testPath?: string; testFormat?: TableFormat } {
  if (context.testFile === "") return {};
  const format = context.files.find((file) => file.path === context.testFile)?.format;
  const known = TABLE_FORMATS.find((candidate) => candidate === format);
  return { testPath: resolveInside(workspace.inputDir, context.testFile), ...(known ? { testFormat: known } : {}) };
}

function scoreCheck(reported: ProgramResult | undefined, context: PerceptualContext): string {
  if (reported === undefined) {
    return formatCheck({ name: "score", status: "skip", detail: `no ${RESULT_MARKER} line in ${ITERATION_FILES.stdout}` });
  }
  const expected = context.metric?.name ?? "";
  const note = expected !== "" && expected !== reported.metric ? ` (the task's metric is ${expected})` : "";
  return formatCheck({ name: "score", status: "pass", detail: `validation ${reported.metric} = ${reported.score}${note}` });
}

/** Why a program that exited cleanly still failed: its predictions. */
function outputFailure(report: PredictionsReport, relativePath: string, result: ExecutionResult): FailureDiagnosis {
  if (!report.found) {
    const wrote = result.outputFiles.length > 0 ? `it wrote only ${result.outputFiles.join(", ")}` : `its ${OUTPUTS_DIR} folder is empty`;
    return {
      category: FailureCategory.MISSING_OUTPUT,
      summary: `The program exited normally but did not write ${relativePath}; ${wrote}.`,
    };
  }
  const failed = report.checks.filter((check) => check.status === "fail");
  return {
    category: FailureCategory.INVALID_OUTPUT,
    summary: `The predictions in ${relativePath} are invalid: ${failed.map((check) => `${check.name}: ${check.detail}`).join("; ")}.`,
  };
}
