import path from "node:path";
import { fileURLToPath } from "node:url";
import { clone, create } from "@bufbuild/protobuf";
import type { Logger } from "@mlzero/logging";
import {
  askAgent,
  loadPromptTemplate,
  renderPrompt,
  sumUsage,
  type ChatClient,
  type ChatMessage,
  type ChatProfile,
  type PromptTemplate,
} from "@mlzero/llm";
import {
  ColumnType,
  Modality,
  PerceptualContextSchema,
  ProblemType,
  ToolCandidateSchema,
  type ColumnProfile,
  type LlmUsage,
  type Metric,
  type PerceptualContext,
  type Tool,
} from "@mlzero/proto";
import { readTable, type Cell, type TableFormat } from "@mlzero/tables";
import { z } from "zod";
import { InferenceLog } from "./inference-log.js";
import { chooseForecastMetric, chooseMetric } from "./metrics.js";
import { findHintedTool, rankTools } from "./rank-tools.js";
import { inferPositiveClass } from "./tabular/infer-positive-class.js";
import { inferProblemType } from "./tabular/infer-problem-type.js";
import { readXlsx } from "./tabular/read-xlsx.js";
import { SAMPLE_ROWS } from "./tabular/read-tables.js";
import type { TableFile } from "./tabular/table-file.js";

/** Perception's prompt templates (`<agent>.v<N>.md`), beside src/ and dist/. */
export const PERCEPTION_PROMPTS_DIR = fileURLToPath(new URL("../prompts", import.meta.url));

/** The agents' names, as in LlmSettings profiles and LlmUsage. */
export const PERCEPTION_AGENT = "perception";
export const TOOL_SELECTION_AGENT = "tool-selection";

/** Rows of the training table the perception agent sees. */
const PROMPT_ROWS = 5;
/** Longest cell shown in a prompt. */
const CELL_CHARS = 60;
/** Reasons are kept to a line. */
const REASON_CHARS = 300;

/** A change the model proposes: a value and why. Values are checked by perception, not by the schema, so one bad field does not void the others. */
const change = <T extends z.ZodType>(value: T) => z.object({ value, reason: z.string().trim().min(1) }).nullish();

const refinementAnswer = z.object({
  label_column: change(z.string()),
  problem_type: change(z.string()),
  metric: change(z.string()),
  output_columns: change(z.array(z.string())),
});
export type RefinementAnswer = z.infer<typeof refinementAnswer>;

const rankingAnswer = z.object({
  ranking: z.array(z.object({ tool: z.string(), reason: z.string().trim().min(1) })).min(1),
});
export type RankingAnswer = z.infer<typeof rankingAnswer>;

/** What {@link PerceptionAgents.refine} needs besides the context. */
export interface RefineInput {
  /** The data folder the context describes. */
  inputDir: string;
  /** The tool registry, to rank again when the problem type changes. */
  tools: Tool[];
  toolHint?: string;
  gpus?: number;
}

/** Perception's LLM agents, run after the rules. */
export interface PerceptionAgents {
  /**
   * The rule-based context, refined: the perception agent may change the
   * label, problem type, metric and output columns (each change checked,
   * an invalid one ignored and recorded), then the tool-selection agent may
   * reorder the ranked tools. Every change and rejection is an inference;
   * the calls' usage goes to `llm_usage`. A model that is down or answers
   * nonsense twice leaves the context as the rules made it, with a note.
   */
  refine(context: PerceptualContext, input: RefineInput): Promise<PerceptualContext>;
}

/** Options for {@link createPerceptionAgents}. */
export interface PerceptionAgentsOptions {
  chat: ChatClient;
  /** Each agent's model profile (LlmSettings.profiles). */
  profiles: { perception: ChatProfile; "tool-selection": ChatProfile };
  /** Where perception.v1.md and tool-selection.v1.md are (default {@link PERCEPTION_PROMPTS_DIR}). */
  promptsDir?: string;
  logger?: Logger;
}

/** Loads the prompt templates (a broken one fails here, at start-up) and returns the agents. */
export async function createPerceptionAgents(options: PerceptionAgentsOptions): Promise<PerceptionAgents> {
  const dir = options.promptsDir ?? PERCEPTION_PROMPTS_DIR;
  const [perceptionPrompt, toolPrompt] = await Promise.all([
    loadPromptTemplate(path.join(dir, "perception.v1.md")),
    loadPromptTemplate(path.join(dir, "tool-selection.v1.md")),
  ]);

  const ask = <T>(agent: string, template: PromptTemplate, messages: ChatMessage[], schema: z.ZodType<T>) =>
    askAgent(options.chat, {
      agent,
      profile: agent === PERCEPTION_AGENT ? options.profiles.perception : options.profiles["tool-selection"],
      messages,
      schema,
      logger: options.logger,
      prompt: template.id,
      failure: "LLM agent failed; perception's rules stand",
    });

  return {
    async refine(original, input) {
      const context = clone(PerceptualContextSchema, original);
      const log = new InferenceLog();
      const usages: LlmUsage[] = [];
      const train = await readTrainTable(context, input.inputDir).catch(() => undefined);

      const refined = await ask(PERCEPTION_AGENT, perceptionPrompt, perceptionMessages(perceptionPrompt, context, train), refinementAnswer);
      if (refined.ok) {
        usages.push(refined.usage);
        const rejected = applyRefinement(context, refined.answer, train, input, log);
        for (const reason of rejected) options.logger?.info({ agent: PERCEPTION_AGENT, reason }, "LLM proposal ignored");
      } else {
        if (refined.spent) usages.push(refined.spent);
        log.add("llm.perception", "unavailable", `the perception agent failed (${oneLine(refined.problem)}); the rules' inferences stand`);
      }

      if (context.tools.length >= 2) {
        const ranked = await ask(TOOL_SELECTION_AGENT, toolPrompt, toolMessages(toolPrompt, context, input), rankingAnswer);
        if (ranked.ok) {
          usages.push(ranked.usage);
          applyRanking(context, ranked.answer, input, log);
        } else {
          if (ranked.spent) usages.push(ranked.spent);
          log.add(
            "llm.tool_selection",
            "unavailable",
            `the tool-selection agent failed (${oneLine(ranked.problem)}); the rules' ranking stands`,
          );
        }
      }

      context.inferences.push(...log.entries);
      context.llmUsage = sumUsage([...context.llmUsage, ...usages]);
      return context;
    },
  };
}

// ---------------------------------------------------------------- prompts

function perceptionMessages(template: PromptTemplate, context: PerceptualContext, train: TableFile | undefined): ChatMessage[] {
  const fileColumns = (file: string) => context.files.find((entry) => entry.path === file)?.columns ?? [];
  const columns = [
    [context.trainFile, fileColumns(context.trainFile)],
    [context.testFile, fileColumns(context.testFile)],
    ...(context.sampleSubmissionFile === "" ? [] : [[context.sampleSubmissionFile, fileColumns(context.sampleSubmissionFile)] as const]),
  ] as const;
  const metrics = [ProblemType.BINARY, ProblemType.MULTICLASS, ProblemType.REGRESSION]
    .map((type) => `${typeName(type)}: ${[...knownMetrics(type, context.modality).keys()].join(", ")}`)
    .join("\n");
  return renderPrompt(
    template,
    {
      modality: modalityName(context.modality),
      problem_type: typeName(context.problemType),
      metric: context.metric?.name ?? "none",
      problem_types: "binary, multiclass, regression",
      metrics,
      sample_submission: context.sampleSubmissionFile === "" ? "no" : "yes (its columns fix the output)",
    },
    {
      current: {
        text: [
          `label column: ${context.labelColumn}`,
          `id column: ${context.idColumn || "(none)"}`,
          `label values: ${context.labelValues.slice(0, 20).join(", ")}${context.labelValues.length > 20 ? ", ..." : ""}`,
          `output file: ${context.output?.fileName ?? ""}`,
          `output columns: ${(context.output?.columns ?? []).join(", ")}`,
        ].join("\n"),
        maxChars: 1_500,
      },
      inferences: {
        text: context.inferences.map((entry) => `${entry.field} = ${entry.value}\n  ${entry.evidence}`).join("\n"),
        maxChars: 5_000,
      },
      columns: {
        text: columns.map(([file, profiles]) => `${file}:\n${profiles.map(describeColumn).join("\n")}`).join("\n\n"),
        maxChars: 5_000,
      },
      rows: { text: train === undefined ? "(no training table)" : sampleRows(train), maxChars: 3_000 },
      description: { text: context.description || "(none)", maxChars: 4_000 },
    },
  );
}

function toolMessages(template: PromptTemplate, context: PerceptualContext, input: RefineInput): ChatMessage[] {
  const train = context.files.find((file) => file.path === context.trainFile);
  const size =
    train === undefined || train.rows === 0n
      ? `${context.images ? `${context.images.trainImages} images` : "size unknown"}`
      : `${train.rows} rows, ${train.columns.length} columns${context.textColumns.length > 0 ? `, ${context.textColumns.length} free-text column(s)` : ""}`;
  return renderPrompt(
    template,
    {
      modality: modalityName(context.modality),
      problem_type: typeName(context.problemType),
      metric: context.metric?.name ?? "none",
      size,
      gpus: String(input.gpus ?? 0),
      tools: context.tools.map((tool, index) => `${index + 1}. ${tool.name}: ${tool.reason}`).join("\n"),
    },
    {
      registry: {
        text: context.tools
          .map((candidate) => input.tools.find((tool) => tool.name === candidate.name))
          .filter((tool) => tool !== undefined)
          .map((tool) => `${tool.name}: ${[tool.summary, tool.covers].filter((text) => text !== "").join(" ") || "(no notes)"}`)
          .join("\n"),
        maxChars: 4_000,
      },
      description: { text: context.description || "(none)", maxChars: 3_000 },
    },
  );
}

function describeColumn(column: ColumnProfile): string {
  const examples = column.examples.map((example) => clip(example, CELL_CHARS)).join(" | ");
  return `- ${column.name}: ${ColumnType[column.type]?.toLowerCase() ?? "unknown"}, ${column.unique} distinct, ${column.missing} missing; e.g. ${examples}`;
}

function sampleRows(train: TableFile): string {
  const cell = (value: Cell) => (value === undefined ? "" : clip(String(value), CELL_CHARS));
  return [train.table.columns.join(", "), ...train.table.rows.slice(0, PROMPT_ROWS).map((row) => row.map(cell).join(", "))].join("\n");
}

// ---------------------------------------------------------------- refinement

/**
 * Applies the perception agent's answer to the context, checking each
 * change with perception's own rules; returns the reasons changes were
 * ignored (also recorded in the log).
 */
function applyRefinement(
  context: PerceptualContext,
  answer: RefinementAnswer,
  train: TableFile | undefined,
  input: RefineInput,
  log: InferenceLog,
): string[] {
  const rejected: string[] = [];
  const reject = (field: string, kept: string, proposed: string, why: string) => {
    const reason = `the perception agent proposed '${clip(proposed, 80)}', ignored: ${why}`;
    log.add(field, kept, reason);
    rejected.push(`${field}: ${reason}`);
  };
  // Only a task given as tables, whose label is a column, can have its label or problem type changed.
  const tabular =
    train !== undefined && context.modality !== Modality.TIME_SERIES && context.modality !== Modality.IMAGE ? train : undefined;
  const fixedBy =
    train === undefined ? "the task has no training table to check it against" : `it is fixed for ${modalityName(context.modality)} tasks`;
  const output = context.output;
  const before = { label: context.labelColumn, type: context.problemType, positive: output?.positiveClass ?? "" };
  let changed = false;

  const label = answer.label_column;
  if (label && label.value !== context.labelColumn) {
    const choice = tabular === undefined ? { problem: fixedBy } : labelChoice(context, tabular, label.value);
    if ("problem" in choice) {
      reject("label_column", context.labelColumn, label.value, choice.problem);
    } else {
      context.labelColumn = label.value;
      log.add("label_column", label.value, `llm: ${clip(label.reason)}`);
      if (choice.problemType !== context.problemType) {
        log.add("problem_type", typeName(choice.problemType), `follows the new label: ${choice.evidence}`);
      }
      context.problemType = choice.problemType;
      context.labelValues = choice.labelValues;
      if (output && context.sampleSubmissionFile === "") {
        output.columns = output.columns.map((column) => (column === before.label ? label.value : column));
        log.add("output.columns", output.columns.join(","), "the id column (if any) and the new label");
      }
      changed = true;
    }
  }

  const type = answer.problem_type;
  if (type) {
    const wanted = parseProblemType(type.value);
    if (wanted === undefined) {
      reject("problem_type", typeName(context.problemType), type.value, "it is not one of binary, multiclass, regression");
    } else if (wanted !== context.problemType) {
      const choice =
        tabular === undefined
          ? { problem: fixedBy }
          : output?.classProbabilities
            ? { problem: `the output columns are the classes of '${context.labelColumn}'` }
            : forcedChoice(tabular, context.labelColumn, wanted);
      if ("problem" in choice) {
        reject("problem_type", typeName(context.problemType), type.value, choice.problem);
      } else {
        context.problemType = wanted;
        context.labelValues = choice.labelValues;
        log.add("problem_type", typeName(wanted), `llm: ${clip(type.reason)}`);
        changed = true;
      }
    }
  }

  const known = knownMetrics(context.problemType, context.modality);
  const metric = answer.metric;
  let metricSet = false;
  if (metric) {
    const wanted = known.get(metric.value.trim().toLowerCase());
    if (wanted === undefined) {
      reject(
        "metric",
        context.metric?.name ?? "",
        metric.value,
        `mlzero knows no such metric for ${typeName(context.problemType)} tasks (it knows ${[...known.keys()].join(", ")})`,
      );
    } else if (wanted.name !== context.metric?.name) {
      context.metric = wanted;
      log.add("metric", wanted.name, `llm: ${clip(metric.reason)}`);
      metricSet = true;
      changed = true;
    }
  }
  if (!metricSet && context.problemType !== before.type && !known.has(context.metric?.name ?? "")) {
    const choice = chooseMetric(context.description, context.problemType);
    context.metric = choice.metric;
    log.add("metric", choice.metric.name, `the problem type changed: ${choice.evidence}`);
  }

  const columns = answer.output_columns;
  if (columns && output && columns.value.join("\n") !== output.columns.join("\n")) {
    const why = tabular === undefined ? fixedBy : outputProblem(context, columns.value);
    if (why !== undefined) {
      reject("output.columns", output.columns.join(","), columns.value.join(","), why);
    } else {
      output.columns = [...columns.value];
      output.idColumn = context.idColumn !== "" && columns.value.includes(context.idColumn) ? context.idColumn : "";
      output.classProbabilities = columns.value.filter((column) => column !== output.idColumn).length >= 2;
      log.add("output.columns", output.columns.join(","), `llm: ${clip(columns.reason)}`);
      changed = true;
    }
  }

  if (!changed || output === undefined) return rejected;
  const sample = sampleTable(context);
  output.positiveClass = output.classProbabilities
    ? ""
    : inferPositiveClass(
        {
          problemType: context.problemType,
          metric: context.metric?.name ?? "",
          label: context.labelColumn,
          labelValues: context.labelValues,
          sample,
        },
        log,
      );
  if (output.positiveClass === "" && before.positive !== "") log.add("output.positive_class", "", "the predictions are labels now");
  if (context.problemType !== before.type) rerank(context, input, log);
  return rejected;
}

/** The problem type and values perception's rules give a new label column, or why it cannot be the label. */
function labelChoice(context: PerceptualContext, train: TableFile, label: string): Choice {
  const problem = (why: string) => ({ problem: why });
  if (!train.table.columns.includes(label)) return problem(`it is not a column of ${context.trainFile}`);
  const test = context.files.find((file) => file.path === context.testFile)?.columns.map((column) => column.name) ?? [];
  if (test.includes(label)) return problem(`${context.testFile} has it too, so it is not what the task predicts`);
  if (label === context.idColumn) return problem("it is the id column");
  if (context.output?.classProbabilities) return problem(`the output columns are the classes of '${context.labelColumn}'`);
  if (context.sampleSubmissionFile !== "" && !(context.output?.columns ?? []).includes(label)) {
    return problem(`the sample submission's columns (${(context.output?.columns ?? []).join(", ")}) do not include it`);
  }
  return ruleChoice(train, label, context.description);
}

/** Why output columns are not valid for the task, or undefined when they are. */
function outputProblem(context: PerceptualContext, columns: string[]): string | undefined {
  if (context.sampleSubmissionFile !== "") return "the sample submission sets the output columns";
  if (columns.length === 0 || columns.some((column) => column === "")) return "a column is empty";
  if (new Set(columns).size !== columns.length) return "a column is repeated";
  const id = context.idColumn;
  if (id !== "" && columns.includes(id) && columns[0] !== id) return `the id column '${id}' must come first`;
  const predicted = id === "" ? columns : columns.filter((column) => column !== id);
  if (predicted.length === 1 && predicted[0] === context.labelColumn) return undefined;
  const classes = new Set(context.labelValues);
  const perClass =
    context.problemType !== ProblemType.REGRESSION &&
    predicted.length === classes.size &&
    predicted.length >= 2 &&
    predicted.every((column) => classes.has(column));
  if (perClass) return undefined;
  return `they must be the id column (if any) and '${context.labelColumn}', or the id column and one column per class`;
}

type Choice = { problemType: ProblemType; labelValues: string[]; evidence: string } | { problem: string };

/** The problem type perception's rules give a label column, or why the column cannot be the label. */
function ruleChoice(train: TableFile, label: string, description: string): Choice {
  const log = new InferenceLog();
  try {
    const choice = inferProblemType(train, label, description, log);
    return { ...choice, evidence: log.entries.at(-1)?.evidence ?? "" };
  } catch (error) {
    return { problem: error instanceof Error ? error.message : String(error) };
  }
}

/** The label's values for a problem type the model asks for, when perception's rules allow it for this label. */
function forcedChoice(train: TableFile, label: string, wanted: ProblemType): Choice {
  const choice = ruleChoice(train, label, wanted === ProblemType.REGRESSION ? "regression" : "classification");
  if ("problem" in choice) return choice;
  if (choice.problemType === wanted) return choice;
  return { problem: `label '${label}' does not fit it: ${choice.evidence}` };
}

/** The sample submission's profile, as the positive-class rule reads it. */
function sampleTable(context: PerceptualContext): TableFile | undefined {
  const sample = context.files.find((file) => file.path === context.sampleSubmissionFile && context.sampleSubmissionFile !== "");
  if (sample === undefined) return undefined;
  return {
    file: { path: sample.path, absolutePath: "", sizeBytes: Number(sample.sizeBytes) },
    table: { format: "csv", columns: sample.columns.map((column) => column.name), rows: [], totalRows: Number(sample.rows) },
    columns: sample.columns,
  };
}

/** Ranks the registry's tools again for a changed problem type. */
function rerank(context: PerceptualContext, input: RefineInput, log: InferenceLog): void {
  let hinted: Tool | undefined;
  try {
    hinted = findHintedTool(input.tools, input.toolHint);
  } catch {
    hinted = undefined;
  }
  context.tools = rankTools(input.tools, context.modality, context.problemType, hinted, input.gpus ?? 0);
  log.add("tools", context.tools.map((tool) => tool.name).join(","), `ranked again for ${typeName(context.problemType)}`);
}

// ---------------------------------------------------------------- tool selection

/**
 * Reorders the ranked tools as the tool-selection agent answers: only tools
 * already ranked, each once; those it left out follow in their old order; a
 * tool the user asked for stays first.
 */
function applyRanking(context: PerceptualContext, answer: RankingAnswer, input: RefineInput, log: InferenceLog): void {
  const byName = new Map(context.tools.map((tool) => [tool.name.toLowerCase(), tool]));
  const hinted = input.toolHint?.trim() ? byName.get(input.toolHint.trim().toLowerCase()) : undefined;
  const reasons = new Map<string, string>();
  const unknown: string[] = [];
  for (const entry of answer.ranking) {
    const tool = byName.get(entry.tool.trim().toLowerCase());
    if (tool === undefined) unknown.push(clip(entry.tool, 80));
    else if (!reasons.has(tool.name)) reasons.set(tool.name, clip(entry.reason));
  }
  if (unknown.length > 0) log.add("tools", "", `the tool-selection agent named tools that are not ranked, ignored: ${unknown.join(", ")}`);
  const proposed = [...reasons.keys()].map((name) => byName.get(name.toLowerCase())!);
  const order = [
    ...(hinted ? [hinted] : []),
    ...proposed.filter((tool) => tool !== hinted),
    ...context.tools.filter((tool) => tool !== hinted && !reasons.has(tool.name)),
  ];
  context.tools = order.map((tool) => {
    const reason = reasons.get(tool.name);
    return reason === undefined || tool === hinted
      ? tool
      : create(ToolCandidateSchema, { ...tool, reason: `${tool.reason}; llm: ${reason}` });
  });
  const names = order.map((tool) => tool.name);
  log.add(
    "tools",
    names.join(","),
    `llm: ${[...reasons].map(([name, reason]) => `${name}: ${reason}`).join("; ")}${hinted ? `; ${hinted.name} stays first, as requested` : ""}`,
  );
}

// ---------------------------------------------------------------- helpers

/** Reads the training table again (a sample of rows), for its rows and its label values; undefined when the task has none. */
async function readTrainTable(context: PerceptualContext, inputDir: string): Promise<TableFile | undefined> {
  const file = context.files.find((entry) => entry.path === context.trainFile);
  if (file === undefined || file.columns.length === 0) return undefined;
  const absolutePath = path.join(inputDir, file.path);
  const folderFile = { path: file.path, absolutePath, sizeBytes: Number(file.sizeBytes) };
  if (file.format === "xlsx") {
    const { table } = await readXlsx(absolutePath, file.path, SAMPLE_ROWS);
    return { file: folderFile, table, columns: file.columns };
  }
  const formats: readonly string[] = ["csv", "tsv", "json", "jsonl", "parquet"];
  if (!formats.includes(file.format)) return undefined;
  const table = await readTable(absolutePath, { format: file.format as TableFormat, maxRows: SAMPLE_ROWS });
  return { file: folderFile, table, columns: file.columns };
}

/** The metrics perception's metric rules know for a problem type, by name. */
function knownMetrics(type: ProblemType, modality: Modality): Map<string, Metric> {
  const known = new Map<string, Metric>();
  const phrases = modality === Modality.TIME_SERIES ? FORECAST_METRIC_PHRASES : METRIC_PHRASES;
  for (const phrase of phrases) {
    try {
      const { metric } = modality === Modality.TIME_SERIES ? chooseForecastMetric(phrase) : chooseMetric(phrase, type);
      known.set(metric.name, metric);
    } catch {
      // no metric for this problem type
    }
  }
  return known;
}

/** A phrase naming each metric metrics.ts recognises; a phrase for another problem type gives its default, which is known too. */
const METRIC_PHRASES = [
  "roc auc",
  "log loss",
  "macro f1",
  "micro f1",
  "weighted f1",
  "f1",
  "balanced accuracy",
  "accuracy",
  "mcc",
  "quadratic weighted kappa",
  "rmsle",
  "rmse",
  "mse",
  "mape",
  "mae",
  "r2",
];
const FORECAST_METRIC_PHRASES = ["mase", "rmsse", "smape", "wape", "mape", "rmse", "mse", "mae"];

function parseProblemType(text: string): ProblemType | undefined {
  const word = text.toLowerCase().replace(/[^a-z]/g, "");
  if (word === "binary" || word === "binaryclassification") return ProblemType.BINARY;
  if (word === "multiclass" || word === "multiclassclassification") return ProblemType.MULTICLASS;
  if (word === "regression") return ProblemType.REGRESSION;
  return undefined;
}

function typeName(type: ProblemType): string {
  return ProblemType[type]?.toLowerCase() ?? "unknown";
}

function modalityName(modality: Modality): string {
  return Modality[modality]?.toLowerCase().replace("_", " ") ?? "unknown";
}

function oneLine(text: string): string {
  return clip(text, 200);
}

function clip(text: string, max = REASON_CHARS): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}
