import { create } from "@bufbuild/protobuf";
import { Modality, ProblemType, ToolSchema, type Tool } from "@mlzero/proto";
import { z } from "zod";

const MODALITIES = {
  tabular: Modality.TABULAR,
  text: Modality.TEXT,
  image: Modality.IMAGE,
  time_series: Modality.TIME_SERIES,
  multimodal: Modality.MULTIMODAL,
} as const;

const PROBLEM_TYPES = {
  binary: ProblemType.BINARY,
  multiclass: ProblemType.MULTICLASS,
  regression: ProblemType.REGRESSION,
} as const;

const modalityNames = Object.keys(MODALITIES) as [keyof typeof MODALITIES, ...(keyof typeof MODALITIES)[]];
const problemTypeNames = Object.keys(PROBLEM_TYPES) as [keyof typeof PROBLEM_TYPES, ...(keyof typeof PROBLEM_TYPES)[]];

/**
 * A registry file, `knowledge/tools/<name>.json`: the proto `Tool` with enum
 * values written as lowercase names. Unknown keys are rejected so that a typo
 * fails the load instead of silently dropping a field.
 */
export const toolEntrySchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_-]*$/, "lowercase letters, digits, - and _"),
  summary: z.string().min(1),
  modalities: z.array(z.enum(modalityNames)).min(1),
  problem_types: z.array(z.enum(problemTypeNames)).min(1),
  python_module: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*$/, "a Python module path"),
  requirements: z.array(z.string().min(1)).min(1),
  priority: z.number().int().min(0).max(100),
  covers: z.string().min(1),
  does_not_cover: z.string().min(1),
  rules: z.array(z.string().min(1)),
  /** A GPU variant: perception ranks it only when the task's runs get a GPU. */
  needs_gpu: z.boolean().default(false),
});

/** A validated registry entry. */
export type ToolEntry = z.infer<typeof toolEntrySchema>;

/** The proto message of a registry entry. */
export function toolMessage(entry: ToolEntry): Tool {
  return create(ToolSchema, {
    name: entry.name,
    summary: entry.summary,
    modalities: entry.modalities.map((name) => MODALITIES[name]),
    problemTypes: entry.problem_types.map((name) => PROBLEM_TYPES[name]),
    pythonModule: entry.python_module,
    requirements: entry.requirements,
    priority: entry.priority,
    covers: entry.covers,
    doesNotCover: entry.does_not_cover,
    rules: entry.rules,
    needsGpu: entry.needs_gpu,
  });
}

/** The entry as retrievable text, so that a query about a tool's scope or rules finds it. */
export function toolText(entry: ToolEntry): string {
  return [
    `Tool: ${entry.name}`,
    entry.summary,
    `Python module: ${entry.python_module}`,
    `Requirements: ${entry.requirements.join(", ")}`,
    `Modalities: ${entry.modalities.join(", ")}`,
    `Problem types: ${entry.problem_types.join(", ")}`,
    `Needs a GPU: ${entry.needs_gpu ? "yes" : "no"}`,
    `Covers: ${entry.covers}`,
    `Does not cover: ${entry.does_not_cover}`,
    "Rules:",
    ...entry.rules.map((rule) => `- ${rule}`),
  ].join("\n");
}
