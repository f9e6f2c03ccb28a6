import { create } from "@bufbuild/protobuf";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describeError } from "@mlzero/errors";
import {
  askAgent,
  loadPromptTemplate,
  renderPrompt,
  sumUsage,
  type ChatClient,
  type ChatMessage,
  type ChatProfile,
  type DataText,
  type LlmSettings,
  type PromptTemplate,
} from "@mlzero/llm";
import type { Logger } from "@mlzero/logging";
import {
  CandidateKind,
  ColumnType,
  FailureCategory,
  FileRole,
  KnowledgeKind,
  Modality,
  ProblemType,
  ProgramSchema,
  type Fix,
  type GenerateRequest,
  type KnowledgeHit,
  type Lesson,
  type LlmUsage,
  type PerceptualContext,
  type Program,
} from "@mlzero/proto";
import { z } from "zod";
import type { Coder, KnowledgeSource } from "./offline-coder.js";
import { programConfigFor } from "./program-config-for.js";

/** The coder's prompt templates: `services/coder/prompts`. */
export const DEFAULT_PROMPTS_DIR = fileURLToPath(new URL("../prompts", import.meta.url));

/** The prompt files, by role; each is `<name>.v<N>.md` in the prompts folder. */
export const PROMPT_FILES = {
  query: "retrieval-query.v1.md",
  rerank: "retrieval-rerank.v1.md",
  coder: "coder.v1.md",
} as const;

/** Options for {@link createLlmCoder}. */
export interface LlmCoderOptions {
  chat: ChatClient;
  /** The agents' profiles: "retrieval" and "coder" are used. */
  settings: Pick<LlmSettings, "profiles">;
  memory: KnowledgeSource;
  /** The offline planner: it picks the tool and writes the reference program, and is the fallback. */
  offline: Coder;
  /** Where the prompt templates are (default {@link DEFAULT_PROMPTS_DIR}). */
  promptsDir?: string;
  /** Warns when the LLM fails and the offline program is used instead. */
  logger?: Logger;
}

/** Tutorial sections searched for per program, and kept after the reranking. */
const TUTORIALS_SEARCHED = 8;
const TUTORIALS_KEPT = 3;
/** Lessons from other tasks shown to the coder agent. */
const LESSONS_SHOWN = 3;

/** How much of each untrusted text goes into a prompt (characters). */
const CAPS = {
  fixPlan: 2_000,
  analysis: 4_000,
  description: 4_000,
  task: 6_000,
  files: 6_000,
  reference: 40_000,
  parentCode: 40_000,
  resultText: 1_200,
  results: 12_000,
  knowledgeText: 3_000,
  knowledge: 10_000,
  lessons: 3_000,
  exampleValue: 40,
} as const;

const KIND_INSTRUCTIONS: Record<"NEW_TOOL" | "DEBUG" | "IMPROVE", string> = {
  NEW_TOOL:
    "A program for a tool not tried yet in this task: start from the reference program and change it only where the task facts, the tutorials or the lessons show it would fail or score poorly.",
  DEBUG:
    "The parent program failed: start from it, fix the cause the error analysis names as the fix plan asks, and keep everything else that worked.",
  IMPROVE:
    "The parent program succeeded: start from it and change it to raise the validation score (features, model settings, ensembling) without risking the time limit or the output format.",
};

/** An LLM step that failed: which step, and the chat client's error. */
class LlmStepError extends Error {
  constructor(
    readonly step: string,
    readonly error: unknown,
  ) {
    super(`${step}: ${describeError(error)}`);
  }
}

interface Prompts {
  query: PromptTemplate;
  rerank: PromptTemplate;
  coder: PromptTemplate;
}

/**
 * The coder that thinks with the LLM, around the offline planner:
 *
 * 1. the offline planner picks the tool (following the analyzer's fix and the
 *    tenant's lessons) and writes its program, the reference program;
 * 2. the retrieval agent writes a search query from the task facts and the
 *    candidate (tool, fix plan, previous analysis), semantic memory finds up
 *    to 8 tutorial sections of the tool, and the agent reranks them: the best
 *    3 are kept;
 * 3. the coder agent writes main.py from the task facts, the reference
 *    program, the kept sections, the parent program and its error analysis
 *    (DEBUG, IMPROVE) and the lessons of other tasks, as JSON {code, summary}.
 *
 * Everything the LLM reads from outside (description, columns, retrieved
 * text, programs, analyses) goes through capped data blocks. The LLM writes
 * only the code: the tool, the candidate id, the candidate and the launcher
 * come from the offline planner and the request, and the run's time limit is
 * the executor's. When the endpoint fails after its retries, or answers
 * invalid JSON twice, the offline program is used (its header says why) with
 * the usage spent so far: a flaky LLM does not fail the task.
 */
export function createLlmCoder({ chat, settings, memory, offline, promptsDir = DEFAULT_PROMPTS_DIR, logger }: LlmCoderOptions): Coder {
  let prompts: Promise<Prompts> | undefined;
  const loadPrompts = (): Promise<Prompts> => {
    prompts ??= loadCoderPrompts(promptsDir).catch((error: unknown) => {
      prompts = undefined;
      throw error;
    });
    return prompts;
  };
  const retrievalProfile = settings.profiles.retrieval;
  const coderProfile = settings.profiles.coder;

  return {
    async generate(request) {
      // The tool, the candidate id and the reference program; its errors (no tool fits, no template) fail the task as offline.
      const reference = await offline.generate(request);
      const templates = await loadPrompts();
      const usages: LlmUsage[] = [];
      // Each call's usage counts, a failed one's too; a failure ends the LLM's part (the offline program stands).
      const ask = async <T>(agent: string, step: string, profile: ChatProfile, messages: ChatMessage[], schema: z.ZodType<T>) => {
        const result = await askAgent(chat, { agent, profile, messages, schema });
        if (!result.ok) {
          if (result.spent) usages.push(result.spent);
          throw new LlmStepError(step, result.error);
        }
        usages.push(result.usage);
        return result.answer;
      };

      const context = request.context!; // the offline planner checked it
      const fix = request.candidate?.fix ?? request.fix;
      const kind = kindOf(request);
      const tool = reference.tool;
      const facts = {
        tool,
        modality: Modality[context.modality] ?? "UNSPECIFIED",
        problem_type: ProblemType[context.problemType] ?? "UNSPECIFIED",
        kind,
        kind_instruction: KIND_INSTRUCTIONS[kind],
      };
      const need = {
        fix_plan: { text: fix?.plan || "(none)", maxChars: CAPS.fixPlan },
        analysis: {
          text: request.previousAnalysis || "(none: no earlier program of this line ran)",
          maxChars: CAPS.analysis,
          keep: "tail",
        },
      } satisfies Record<string, DataText>;

      try {
        // The retrieval agent: a query, the search, the reranking.
        const { query } = await ask(
          "retrieval",
          "the retrieval agent's query",
          retrievalProfile,
          renderPrompt(templates.query, facts, need),
          QUERY,
        );
        const found = await memory.retrieve({
          tenant: request.tenant,
          tool,
          kind: KnowledgeKind.TUTORIAL,
          query,
          limit: TUTORIALS_SEARCHED,
        });
        let kept = found.hits.slice(0, TUTORIALS_KEPT);
        if (found.hits.length > 0) {
          const results = found.hits.map((hit, index) => `[k${index + 1}] ${hit.title}\n${cut(hit.text, CAPS.resultText)}`).join("\n\n");
          const { ranking } = await ask(
            "retrieval",
            "the retrieval agent's reranking",
            retrievalProfile,
            renderPrompt(templates.rerank, facts, { ...need, results: { text: results, maxChars: CAPS.results } }),
            RANKING,
          );
          kept = reranked(found.hits, ranking) ?? kept;
        }

        // The coder agent.
        const { lessons } = await memory.findLessons({
          tenant: request.tenant,
          tool,
          query: [request.previousAnalysis, fix?.plan].filter(Boolean).join(" "),
          excludeTaskId: request.taskId,
          limit: LESSONS_SHOWN,
        });
        const config = programConfigFor({ context, fix, timeLimitSeconds: request.timeLimitSeconds, seed: 0 });
        const outputFile = path.posix.basename(config.output_path);
        const parent = kind !== "NEW_TOOL";
        const answer = await ask(
          "coder",
          "the coder agent",
          coderProfile,
          renderPrompt(
            templates.coder,
            {
              ...facts,
              iteration: String(request.iteration),
              run_seconds: String(Math.floor(request.timeLimitSeconds)),
              training_seconds: String(config.time_limit_seconds),
            },
            {
              ...need,
              task: { text: JSON.stringify(config, null, 1), maxChars: CAPS.task },
              files: { text: filesText(context), maxChars: CAPS.files },
              description: { text: context.description || "(none)", maxChars: CAPS.description },
              reference: { text: reference.code, maxChars: CAPS.reference },
              knowledge: { text: knowledgeText(kept), maxChars: CAPS.knowledge },
              lessons: { text: lessonsText(lessons), maxChars: CAPS.lessons },
              parent_code: {
                text: parent ? request.parentCode || "(not given)" : "(none: this program is a new tool, not a change of an earlier one)",
                maxChars: CAPS.parentCode,
              },
            },
          ),
          programSchema(outputFile),
        );

        const header = [
          `# Written by mlzero's coder agent (prompts ${templates.coder.id}, ${templates.query.id}, ${templates.rerank.id}; model ${coderProfile.model}): task ${request.taskId}, iteration ${request.iteration}, tool ${tool}, ${kind}.`,
          answer.summary ? `# Summary: ${oneLine(answer.summary)}` : undefined,
          fix?.plan ? `# Fix applied: ${oneLine(fix.plan)}` : undefined,
        ].filter(Boolean);
        return create(ProgramSchema, {
          candidateId: reference.candidateId,
          tool,
          code: `${header.join("\n")}\n${answer.code}`,
          launcher: "python main.py",
          // The reference program's template (the offline planner records it first), the sections and lessons shown.
          knowledgeIds: unique([
            ...reference.knowledgeIds.slice(0, 1),
            ...kept.map((hit) => hit.id),
            ...lessons.map((lesson) => lesson.id),
          ]),
          candidate: request.candidate,
          llmUsage: sumUsage(usages),
        });
      } catch (error) {
        if (!(error instanceof LlmStepError)) throw error;
        logger?.warn(
          { taskId: request.taskId, tenant: request.tenant, iteration: request.iteration, error: error.message },
          "LLM coder fell back to the offline program",
        );
        return create(ProgramSchema, {
          candidateId: reference.candidateId,
          tool: reference.tool,
          knowledgeIds: reference.knowledgeIds,
          code: `# mlzero's LLM coder fell back to the offline planner's program: ${oneLine(error.message)}\n${reference.code}`,
          launcher: "python main.py",
          candidate: request.candidate,
          llmUsage: sumUsage(usages),
        });
      }
    },
  };
}

/** Reads the coder's three prompt templates. */
export async function loadCoderPrompts(promptsDir: string = DEFAULT_PROMPTS_DIR): Promise<Prompts> {
  const [query, rerank, coder] = await Promise.all(
    [PROMPT_FILES.query, PROMPT_FILES.rerank, PROMPT_FILES.coder].map((file) => loadPromptTemplate(path.join(promptsDir, file))),
  );
  return { query: query!, rerank: rerank!, coder: coder! };
}

const QUERY = z.object({
  query: z
    .string()
    .transform((text) => text.replace(/\s+/g, " ").trim().slice(0, 400))
    .refine((text) => text.length > 0, "the query is empty"),
});

const RANKING = z.object({
  ranking: z.array(z.object({ id: z.string(), reason: z.string().optional() })).max(50),
});

/**
 * The coder agent's answer: `code` must be a whole Python program (it
 * imports something) that names the output file; a Markdown fence around it
 * is taken off. An answer that is not is invalid, and gets the chat client's
 * one repair.
 */
export function programSchema(outputFile: string) {
  return z.object({
    code: z
      .string()
      .transform(unfence)
      .superRefine((code, context) => {
        if (code.trim().length === 0) {
          context.addIssue({ code: "custom", message: "the code is empty" });
          return;
        }
        if (!/^\s*(import|from)\s+[A-Za-z_]/m.test(code)) {
          context.addIssue({ code: "custom", message: "the code must be a whole Python program, with its imports" });
        }
        if (!code.includes(outputFile)) {
          context.addIssue({ code: "custom", message: `the code must write the predictions to the output path (the file ${outputFile})` });
        }
      }),
    summary: z
      .string()
      .nullish()
      .transform((text) => text ?? ""),
  });
}

/** The search hits in the reranker's order (its unknown and repeated ids ignored), or undefined when it named none. */
function reranked(hits: KnowledgeHit[], ranking: { id: string }[]): KnowledgeHit[] | undefined {
  const chosen: KnowledgeHit[] = [];
  for (const { id } of ranking) {
    const match = /^\[?k(\d+)\]?$/i.exec(id.trim());
    const hit = match ? hits[Number(match[1]) - 1] : undefined;
    if (hit && !chosen.includes(hit)) chosen.push(hit);
  }
  return chosen.length > 0 ? chosen.slice(0, TUTORIALS_KEPT) : undefined;
}

/** The candidate's kind: the request's, else a fix or an analysis means a DEBUG of the previous program. */
function kindOf(request: GenerateRequest): "NEW_TOOL" | "DEBUG" | "IMPROVE" {
  switch (request.candidate?.kind) {
    case CandidateKind.NEW_TOOL:
      return "NEW_TOOL";
    case CandidateKind.DEBUG:
      return "DEBUG";
    case CandidateKind.IMPROVE:
      return "IMPROVE";
    default:
      return request.fix || request.previousAnalysis ? "DEBUG" : "NEW_TOOL";
  }
}

/** The training and test files as perception profiled them. */
function filesText(context: PerceptualContext): string {
  const files = context.files.filter((file) => file.role === FileRole.TRAIN || file.role === FileRole.TEST);
  if (files.length === 0) return "(not profiled)";
  return files
    .map((file) => {
      const columns = file.columns.map(
        (column) =>
          `  ${column.name}: ${ColumnType[column.type] ?? "UNSPECIFIED"}, ${column.missing} missing, ${column.unique} distinct` +
          (column.examples.length > 0
            ? `, e.g. ${column.examples
                .slice(0, 3)
                .map((value) => JSON.stringify(cut(value, CAPS.exampleValue)))
                .join(", ")}`
            : ""),
      );
      return [`${file.path} (${FileRole[file.role]}, ${file.format}, ${file.rows} rows)`, ...columns].join("\n");
    })
    .join("\n\n");
}

function knowledgeText(hits: KnowledgeHit[]): string {
  if (hits.length === 0) return "(none found)";
  return hits.map((hit) => `### ${hit.title}\n${cut(hit.text, CAPS.knowledgeText)}`).join("\n\n");
}

function lessonsText(lessons: Lesson[]): string {
  if (lessons.length === 0) return "(none)";
  return lessons
    .map(
      (lesson: Lesson) =>
        `- ${lesson.tool} failed (${FailureCategory[lesson.failure]}): ${oneLine(lesson.analysis)}\n  Fix that worked: ${fixText(lesson.fix)}`,
    )
    .join("\n");
}

function fixText(fix: Fix | undefined): string {
  if (!fix) return "(none)";
  return [fix.plan && oneLine(fix.plan), fix.tool && `tool ${fix.tool}`, fix.reduceLevel ? `reduce level ${fix.reduceLevel}` : ""]
    .filter(Boolean)
    .join("; ");
}

/** Code without the Markdown fence a model may put around it. */
function unfence(text: string): string {
  const fenced = /^\s*```[A-Za-z0-9_-]*[^\S\n]*\n([\s\S]*?)\n?```\s*$/.exec(text);
  return fenced ? fenced[1]! : text;
}

function cut(text: string, maxChars: number): string {
  return text.length > maxChars ? `${text.slice(0, maxChars)} [...]` : text;
}

/** Text for a one-line comment: no line break can end the comment and start code. */
function oneLine(text: string): string {
  return text
    .replace(/[\s\x00-\x1f\x7f]+/g, " ")
    .trim()
    .slice(0, 200);
}

function unique(ids: string[]): string[] {
  return [...new Set(ids.filter(Boolean))];
}
