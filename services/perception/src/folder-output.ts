import { create } from "@bufbuild/protobuf";
import { OutputSpecSchema, type OutputSpec } from "@mlzero/proto";
import { outputFromDescription } from "./description-hints.js";
import { isSampleSubmissionName } from "./file-names.js";
import type { InferenceLog } from "./inference-log.js";
import { cellText } from "./tabular/cell-values.js";
import { columnCells } from "./tabular/profile-columns.js";
import { DEFAULT_OUTPUT_FILE, submissionName } from "./tabular/infer-output.js";
import type { TableFile } from "./tabular/table-file.js";

/** What the output of a task whose examples are files depends on. */
export interface FolderOutputFacts {
  sample: TableFile | undefined;
  /** Each example to predict, by its path relative to the test folder. */
  testIds: readonly string[];
  labelValues: readonly string[];
  description: string;
  inputFileNames: readonly string[];
  /** Column names when nothing names them. */
  defaults: { id: string; label: string };
  log: InferenceLog;
}

/**
 * The output of a task whose examples are files (images, text files): one
 * row per example to predict, named by its path relative to the test
 * folder. A sample submission is followed (its id column is the one holding
 * those paths, else its first; the rest is the label or one probability per
 * class); else the description's file and two columns; else
 * predictions.csv with the default id and label names.
 */
export function folderOutput(facts: FolderOutputFacts): { id: string; label: string; output: OutputSpec } {
  const { sample, log } = facts;
  if (sample !== undefined) {
    const columns = [...sample.table.columns];
    const matched = idColumnOf(sample, facts.testIds);
    const id = matched ?? columns[0] ?? facts.defaults.id;
    const predicted = columns.filter((column) => column !== id);
    const classProbabilities = predicted.length >= 2 && predicted.every((column) => facts.labelValues.includes(column));
    const label = classProbabilities ? facts.defaults.label : (predicted[0] ?? facts.defaults.label);
    log.add(
      "id_column",
      id,
      matched !== undefined
        ? `column '${id}' of ${sample.file.path} holds the paths of the examples to predict`
        : `the first column of ${sample.file.path}; its values are not the example paths relative to the test folder (e.g. ${facts.testIds[0] ?? ""})`,
    );
    log.add(
      "label_column",
      label,
      classProbabilities ? `the other columns of ${sample.file.path} are the classes` : `the other column of ${sample.file.path}`,
    );
    const fileName = submissionName(sample.file.path);
    log.add("output.file_name", fileName, `named after the sample submission ${sample.file.path}`);
    log.add(
      "output.columns",
      columns.join(","),
      `the columns of ${sample.file.path}${classProbabilities ? ", one probability per class" : ""}`,
    );
    return { id, label, output: create(OutputSpecSchema, { fileName, columns, idColumn: id, classProbabilities }) };
  }

  const described = outputFromDescription(facts.description, facts.inputFileNames);
  const named = described?.columns?.length === 2 ? described.columns : undefined;
  const [id, label] = named ?? [facts.defaults.id, facts.defaults.label];
  const fileName = described?.fileName ?? DEFAULT_OUTPUT_FILE;
  const why = "each example's path relative to the test folder, and its class";
  log.add(
    "id_column",
    id!,
    named !== undefined ? described!.evidence : "no sample submission: each example's path relative to the test folder",
  );
  log.add("label_column", label!, named !== undefined ? described!.evidence : "no sample submission or description names it; the default");
  log.add(
    "output.file_name",
    fileName,
    described?.fileName !== undefined ? described.evidence : "no sample submission or description names the output; the default",
  );
  log.add("output.columns", `${id},${label}`, named !== undefined ? described!.evidence : why);
  return {
    id: id!,
    label: label!,
    output: create(OutputSpecSchema, { fileName, columns: [id!, label!], idColumn: id!, classProbabilities: false }),
  };
}

/**
 * The table named like a submission, else the only table with one row per
 * example to predict whose column names them (their paths relative to the
 * test folder).
 */
export function findSampleSubmission(tables: readonly TableFile[], testIds: readonly string[], log: InferenceLog): TableFile | undefined {
  const named = tables.find((table) => isSampleSubmissionName(table.file.path));
  if (named !== undefined) {
    log.add("sample_submission_file", named.file.path, "the file name says it is a submission example");
    return named;
  }
  const sized = tables.filter((table) => table.table.totalRows === testIds.length && idColumnOf(table, testIds) !== undefined);
  if (sized.length !== 1) return undefined;
  const [table] = sized;
  log.add("sample_submission_file", table!.file.path, `it has one row per example to predict (${testIds.length}), named by its path`);
  return table;
}

/** The column of a table holding the most of the example paths, if it holds any. */
function idColumnOf(table: TableFile, testIds: readonly string[]): string | undefined {
  const wanted = new Set(testIds);
  const matches = (column: string) =>
    columnCells(table.table, column).filter((cell) => cell !== undefined && wanted.has(cellText(cell))).length;
  const best = [...table.table.columns].sort((a, b) => matches(b) - matches(a))[0];
  return best !== undefined && matches(best) > 0 ? best : undefined;
}
