import path from "node:path";
import { fileURLToPath } from "node:url";
import { clone, create } from "@bufbuild/protobuf";
import type { Logger } from "@mlzero/logging";
import {
  askAgent,
  loadPromptTemplate,
  renderPrompt,
  sumUsage,
  type AgentResult,
  type ChatClient,
  type ChatMessage,
  type ChatProfile,
  type PromptTemplate,
} from "@mlzero/llm";
import { RESULT_MARKER, type ProgramResult } from "@mlzero/program";
import {
  AnalysisSchema,
  FailureCategory,
  FixSchema,
  Modality,
  ProblemType,
  Verdict,
  type Analysis,
  type Attempt,
  type PerceptualContext,
} from "@mlzero/proto";
import { z } from "zod";
import type { FailureDiagnosis } from "./classify-failure.js";
import { decideNextStep } from "./decide-next-step.js";
import { formatCheck } from "./output-check.js";

/** The analyzer's prompt templates (`<agent>.v<N>.md`), beside src/ and dist/. */
export const ANALYZER_PROMPTS_DIR = fileURLToPath(new URL("../prompts", import.meta.url));

/** The agents' names, as in LlmSettings profiles and LlmUsage. */
export const VERDICT_AGENT = "verdict";
export const ERROR_ANALYSIS_AGENT = "error-analysis";

/** How much of each log and of the code goes into a prompt (logs from the end, code from the start). */
const STDOUT_CHARS = 4_000;
const STDERR_CHARS = 6_000;
const CODE_CHARS = 12_000;
/** Reasons, root causes and plans are kept to a line or two. */
const MAX_TEXT_CHARS = 400;

/** What the verdict agent answers. */
const verdictAnswer = z.object({
  verdict: z.enum(["SUCCESS", "FIX"]),
  reason: z.string().trim().min(1),
  validation_score: z.number().finite().nullish(),
});
export type VerdictAnswer = z.infer<typeof verdictAnswer>;

/** What the error-analysis agent answers. */
const errorAnswer = z.object({
  root_cause: z.string().trim().min(1),
  plan: z.string().trim().min(1),
  tool: z.string().trim().nullish(),
});
export type ErrorAnalysisAnswer = z.infer<typeof errorAnswer>;

/** A run that passed the analyzer's checks, as the verdict agent reads it. */
export interface SuccessReview {
  context: PerceptualContext;
  tool: string;
  checks: string[];
  /** The program's MLZERO_RESULT, when it printed one. */
  reported?: ProgramResult;
  stdout: string;
  stderr: string;
}

/** A failed run, as the error-analysis agent reads it. */
export interface FailureReview {
  context: PerceptualContext;
  tool: string;
  diagnosis: FailureDiagnosis;
  /** The analyzer's own fix (its decision, or a lesson of an earlier task). */
  plan: string;
  fixTool: string;
  stdout: string;
  stderr: string;
  code: string;
}

/**
 * The analyzer's LLM agents. They only advise: every answer is checked
 * against the analyzer's own judgement before it is used (see
 * {@link reviewSuccess} and {@link explainFailure}), and a model that is
 * down or answers nonsense twice leaves the offline analysis as it was.
 */
export interface AnalyzerAgents {
  /** Asks the verdict agent about a run whose checks passed. */
  judgeSuccess(review: SuccessReview): Promise<AgentResult<VerdictAnswer>>;
  /** Asks the error-analysis agent about a failed run. */
  analyzeFailure(review: FailureReview): Promise<AgentResult<ErrorAnalysisAnswer>>;
}

/** Options for {@link createAnalyzerAgents}. */
export interface AnalyzerAgentsOptions {
  chat: ChatClient;
  /** Each agent's model profile (LlmSettings.profiles). */
  profiles: { verdict: ChatProfile; "error-analysis": ChatProfile };
  /** Where verdict.v1.md and error-analysis.v1.md are (default {@link ANALYZER_PROMPTS_DIR}). */
  promptsDir?: string;
  logger?: Logger;
}

/** Loads the prompt templates (a broken one fails here, at start-up) and returns the agents. */
export async function createAnalyzerAgents(options: AnalyzerAgentsOptions): Promise<AnalyzerAgents> {
  const dir = options.promptsDir ?? ANALYZER_PROMPTS_DIR;
  const [verdictPrompt, errorPrompt] = await Promise.all([
    loadPromptTemplate(path.join(dir, "verdict.v1.md")),
    loadPromptTemplate(path.join(dir, "error-analysis.v1.md")),
  ]);

  const ask = <T>(agent: string, template: PromptTemplate, profile: ChatProfile, messages: ChatMessage[], schema: z.ZodType<T>) =>
    askAgent(options.chat, {
      agent,
      profile,
      messages,
      schema,
      logger: options.logger,
      prompt: template.id,
      failure: "LLM agent failed; the analyzer's own result stands",
    });

  return {
    judgeSuccess(review) {
      const { context } = review;
      const reported = review.reported ? `metric ${review.reported.metric}, score ${review.reported.score}` : `no ${RESULT_MARKER} line`;
      const messages = renderPrompt(
        verdictPrompt,
        {
          problem_type: problemTypeName(context.problemType),
          metric: context.metric?.name || "the task's metric",
          direction: context.metric?.greaterIsBetter === false ? "lower" : "higher",
          tool: review.tool || "unknown",
        },
        {
          label: { text: context.labelColumn, maxChars: 200 },
          checks: { text: review.checks.join("\n"), maxChars: 3_000 },
          reported: { text: reported, maxChars: 300 },
          stdout: { text: review.stdout, maxChars: STDOUT_CHARS, keep: "tail" },
          stderr: { text: review.stderr, maxChars: STDERR_CHARS, keep: "tail" },
        },
      );
      return ask(VERDICT_AGENT, verdictPrompt, options.profiles.verdict, messages, verdictAnswer);
    },

    analyzeFailure(review) {
      const { context } = review;
      const output = context.output;
      const task = [
        `label column: ${context.labelColumn}`,
        `id column: ${context.idColumn || "(none)"}`,
        `predictions file: ${output?.fileName ?? ""} with columns ${(output?.columns ?? []).join(", ")}`,
        `training file: ${context.derivedTrainFile || context.trainFile}; test file: ${context.derivedTestFile || context.testFile}`,
      ].join("\n");
      const messages = renderPrompt(
        errorPrompt,
        {
          modality: Modality[context.modality]?.toLowerCase() ?? "unknown",
          problem_type: problemTypeName(context.problemType),
          metric: context.metric?.name || "unknown",
          tool: review.tool || "unknown",
          tools: context.tools.map((tool) => tool.name).join(", ") || "(none)",
          category: FailureCategory[review.diagnosis.category] ?? "UNSPECIFIED",
        },
        {
          diagnosis: { text: `Diagnosis: ${review.diagnosis.summary}\nFix: ${review.fixTool}: ${review.plan}`, maxChars: 2_000 },
          task: { text: task, maxChars: 1_500 },
          stderr: { text: review.stderr, maxChars: STDERR_CHARS, keep: "tail" },
          stdout: { text: review.stdout, maxChars: STDOUT_CHARS, keep: "tail" },
          code: { text: review.code, maxChars: CODE_CHARS, keep: "head" },
        },
      );
      return ask(ERROR_ANALYSIS_AGENT, errorPrompt, options.profiles["error-analysis"], messages, errorAnswer);
    },
  };
}

/** What {@link reviewSuccess} needs besides the analysis. */
export interface SuccessReviewInput extends SuccessReview {
  iteration: number;
  attempts: Attempt[];
  maxIterations: number;
  secondsLeft?: number;
}

/**
 * The verdict agent's review of a SUCCESS, applied. It runs only on a run
 * that passed the checks, so at most it turns SUCCESS into FIX: "FIX" gives
 * a FIX (INVALID_OUTPUT) with its reason as the plan, same tool at the
 * reduce level the tool had reached, unless the budget or deadline leaves no
 * further run, when the valid predictions stand. A validation score it read
 * from the logs is taken only when the program printed no MLZERO_RESULT line
 * and the number is in the logs.
 */
export async function reviewSuccess(agents: AnalyzerAgents, success: Analysis, input: SuccessReviewInput): Promise<Analysis> {
  const result = await agents.judgeSuccess(input);
  const analysis = clone(AnalysisSchema, success);
  if (!result.ok) {
    if (result.spent) analysis.llmUsage = sumUsage([...analysis.llmUsage, result.spent]);
    analysis.checks.push(note(VERDICT_AGENT, `unavailable (${oneLine(result.problem)}); the analyzer's own verdict stands`));
    return analysis;
  }
  analysis.llmUsage = sumUsage([...analysis.llmUsage, result.usage]);
  const { answer } = result;
  const reason = clip(answer.reason);
  const score = answer.validation_score;
  if (score !== undefined && score !== null) {
    if (input.reported !== undefined) {
      analysis.checks.push(note(VERDICT_AGENT, `its score ${score} is ignored: the program reported ${input.reported.score}`));
    } else if (!appearsIn(score, `${input.stdout}\n${input.stderr}`)) {
      analysis.checks.push(note(VERDICT_AGENT, `its score ${score} is ignored: the logs do not show that number`));
    } else {
      analysis.score = score;
      analysis.metric = input.context.metric?.name ?? analysis.metric;
      analysis.checks.push(
        formatCheck({
          name: "score",
          status: "pass",
          detail: `validation ${analysis.metric} = ${score}, read from the logs by the verdict agent`,
        }),
      );
      analysis.summary = analysis.summary.replace(
        /; it reported no validation score\.$/,
        `; validation ${analysis.metric} = ${score} (from its logs).`,
      );
    }
  }
  if (answer.verdict === "SUCCESS") {
    analysis.checks.push(formatCheck({ name: VERDICT_AGENT, status: "pass", detail: reason }));
    return analysis;
  }
  const step = decideNextStep({
    // UNSPECIFIED: not the tool's bug nor a resource failure, so the decision keeps the tool and its reduce level.
    diagnosis: { category: FailureCategory.UNSPECIFIED, summary: reason },
    iteration: input.iteration,
    tool: input.tool,
    attempts: input.attempts,
    context: input.context,
    maxIterations: input.maxIterations,
    ...(input.secondsLeft === undefined ? {} : { secondsLeft: input.secondsLeft }),
  });
  if (step.kind === "give_up") {
    analysis.checks.push(note(VERDICT_AGENT, `it asked for a fix (${reason}), but ${step.reason}: the valid predictions stand`));
    return analysis;
  }
  analysis.checks.push(formatCheck({ name: VERDICT_AGENT, status: "fail", detail: reason }));
  return create(AnalysisSchema, {
    verdict: Verdict.FIX,
    failure: FailureCategory.INVALID_OUTPUT,
    summary: `The predictions passed the checks, but the verdict agent found a problem: ${reason}`,
    fix: create(FixSchema, { tool: input.tool, reduceLevel: step.fix.reduceLevel, plan: reason }),
    checks: analysis.checks,
    metric: analysis.metric,
    ...(analysis.score === undefined ? {} : { score: analysis.score }),
    llmUsage: analysis.llmUsage,
  });
}

/** What {@link explainFailure} needs besides the analysis. */
export interface FailureExplainInput {
  context: PerceptualContext;
  tool: string;
  diagnosis: FailureDiagnosis;
  attempts: Attempt[];
  stdout: string;
  stderr: string;
  code: string;
}

/**
 * The error-analysis agent's reading of a failure, applied to the analyzer's
 * FIX: its root cause becomes the summary and its plan the fix's plan; the
 * category, reduce level and any label correction stay the analyzer's. A
 * tool it names is taken only when perception ranked it and it has not
 * failed to import in this task; otherwise the analyzer's tool stays.
 */
export async function explainFailure(agents: AnalyzerAgents, offline: Analysis, input: FailureExplainInput): Promise<Analysis> {
  const fix = offline.fix;
  if (offline.verdict !== Verdict.FIX || fix === undefined) return offline;
  const result = await agents.analyzeFailure({ ...input, plan: fix.plan, fixTool: fix.tool });
  const analysis = clone(AnalysisSchema, offline);
  if (!result.ok) {
    if (result.spent) analysis.llmUsage = sumUsage([...analysis.llmUsage, result.spent]);
    analysis.checks.push(note(ERROR_ANALYSIS_AGENT, `unavailable (${oneLine(result.problem)}); the analyzer's own diagnosis stands`));
    return analysis;
  }
  analysis.llmUsage = sumUsage([...analysis.llmUsage, result.usage]);
  const { answer } = result;
  analysis.summary = clip(answer.root_cause);
  analysis.fix!.plan = clip(answer.plan);
  const wanted = answer.tool ?? "";
  if (wanted !== "" && wanted !== fix.tool) {
    const cannotImport = new Set(
      [...input.attempts, { tool: input.tool, failure: input.diagnosis.category }]
        .filter((attempt) => attempt.failure === FailureCategory.MISSING_MODULE)
        .map((attempt) => attempt.tool),
    );
    if (!input.context.tools.some((tool) => tool.name === wanted)) {
      analysis.checks.push(
        note(ERROR_ANALYSIS_AGENT, `its tool '${clip(wanted, 80)}' is ignored: perception did not rank it; ${fix.tool} stays`),
      );
    } else if (cannotImport.has(wanted)) {
      analysis.checks.push(note(ERROR_ANALYSIS_AGENT, `its tool '${wanted}' is ignored: it cannot be imported here; ${fix.tool} stays`));
    } else {
      analysis.fix!.tool = wanted;
    }
  }
  analysis.checks.push(
    formatCheck({ name: ERROR_ANALYSIS_AGENT, status: "pass", detail: `plan for ${analysis.fix!.tool} from the model` }),
  );
  return analysis;
}

function note(agent: string, detail: string): string {
  return formatCheck({ name: agent, status: "skip", detail });
}

function problemTypeName(type: ProblemType): string {
  switch (type) {
    case ProblemType.BINARY:
      return "binary classification";
    case ProblemType.MULTICLASS:
      return "multiclass classification";
    case ProblemType.REGRESSION:
      return "regression";
    default:
      return "an unknown problem type";
  }
}

function oneLine(text: string): string {
  return clip(text.replace(/\s+/g, " "), 200);
}

/** One line of at most `max` characters. */
function clip(text: string, max = MAX_TEXT_CHARS): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

/** Whether a number the model read from the logs is really printed there (as written, or rounded as printed). */
function appearsIn(score: number, logs: string): boolean {
  for (const match of logs.matchAll(/-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/g)) {
    const printed = Number(match[0]);
    if (Number.isFinite(printed) && Math.abs(printed - score) <= 1e-9 * Math.max(1, Math.abs(printed))) return true;
  }
  return false;
}
