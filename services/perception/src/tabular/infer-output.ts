import { basename, extname } from "node:path";
import { create } from "@bufbuild/protobuf";
import { OutputSpecSchema, type OutputSpec } from "@mlzero/proto";
import { outputFromDescription } from "../description-hints.js";
import type { InferenceLog } from "../inference-log.js";
import type { TabularRoles } from "./assign-roles.js";

/** The predictions file written when nothing asks for another. */
export const DEFAULT_OUTPUT_FILE = "predictions.csv";

/** What the output depends on besides the tables. */
export interface OutputFacts {
  label: string;
  id?: string;
  labelValues: readonly string[];
  description: string;
  /** Base names of the input files, which a description may mention without meaning the output. */
  inputFileNames: readonly string[];
  /** Columns when nothing names them, and why; else the id (if any) and the label. */
  defaults?: { columns: string[]; evidence: string };
}

/**
 * Decides where predictions go and their columns. A sample submission is
 * followed exactly (its columns, in order; "sample_submission.csv" becomes
 * "submission.csv"); else what the description asks for; else
 * predictions.csv with the default columns: the id column (if any) and the
 * label, unless the task says otherwise (a forecast adds item and time).
 */
export function inferOutput(roles: TabularRoles, facts: OutputFacts, log: InferenceLog): OutputSpec {
  const sample = roles.sampleSubmission;
  if (sample !== undefined) {
    const columns = [...sample.table.columns];
    const fileName = submissionName(sample.file.path);
    const idColumn = facts.id !== undefined && columns.includes(facts.id) ? facts.id : "";
    const predicted = columns.filter((column) => column !== idColumn);
    const classProbabilities = predicted.length >= 2 && predicted.every((column) => facts.labelValues.includes(column));
    log.add("output.file_name", fileName, `named after the sample submission ${sample.file.path}`);
    log.add(
      "output.columns",
      columns.join(","),
      `the columns of ${sample.file.path}${classProbabilities ? ", one probability per class" : ""}`,
    );
    return create(OutputSpecSchema, { fileName, columns, idColumn, classProbabilities });
  }

  const described = outputFromDescription(facts.description, facts.inputFileNames);
  const defaultColumns = facts.defaults?.columns ?? (facts.id === undefined ? [facts.label] : [facts.id, facts.label]);
  const fileName = described?.fileName ?? DEFAULT_OUTPUT_FILE;
  const columns = described?.columns ?? defaultColumns;
  const idColumn = facts.id !== undefined && columns.includes(facts.id) ? facts.id : "";
  const predicted = columns.filter((column) => column !== idColumn);
  const classProbabilities = predicted.length >= 2 && predicted.every((column) => facts.labelValues.includes(column));
  log.add(
    "output.file_name",
    fileName,
    described?.fileName !== undefined ? described.evidence : "no sample submission or description names the output; the default",
  );
  log.add(
    "output.columns",
    columns.join(","),
    described?.columns !== undefined ? described.evidence : (facts.defaults?.evidence ?? "the id column (if any) and the label"),
  );
  return create(OutputSpecSchema, { fileName, columns, idColumn, classProbabilities });
}

/** "sample_submission.csv" → "submission.csv": the example's name without "sample"/"example". */
export function submissionName(path: string): string {
  const extension = extname(path);
  const stem = basename(path, extension);
  const stripped = stem.replace(/^(?:sample|example)[\s_-]*/i, "");
  return `${stripped === "" ? stem : stripped}${extension}`;
}
