import path from "node:path";
import { readTable, type Cell, type Table } from "@mlzero/tables";
import { accuracy, f1, f1Macro, logLoss, mae, r2, rmse, rocAuc } from "./metrics.js";
import type { BenchTask, TaskSpec } from "./suite.js";

/** Predictions that cannot be scored: missing rows, no prediction column, values of the wrong kind. */
export class GradeError extends Error {}

/** Scores a predictions file (any table format) against the task's hidden answers. */
export async function gradeFile(task: BenchTask, file: string): Promise<number> {
  const [answers, predicted] = await Promise.all([readTable(path.join(task.hiddenDir, "answers.csv")), readTable(file)]);
  return gradeTables(task.spec, answers, predicted);
}

/**
 * The task's metric on predictions matched to the answers by the key
 * columns (by row order when the task has none). Predictions may be labels,
 * the positive class's probability (binary) or one probability column per
 * class, whichever the metric needs is derived: labels from probabilities by
 * argmax (ties: the first class), probabilities from labels as 0/1.
 */
export function gradeTables(spec: TaskSpec, answers: Table, predicted: Table): number {
  const rows = alignRows(spec, answers, predicted);
  const truthColumn = answers.columns.indexOf(spec.label);
  const truthCells = answers.rows.map((row) => text(row[truthColumn]));
  if (spec.problem_type === "regression") {
    const column = predictionColumn(spec, predicted);
    const values = rows.map((row) => (text(row[column]).trim() === "" ? Number.NaN : Number(text(row[column]))));
    const bad = values.filter((value) => !Number.isFinite(value)).length;
    if (bad > 0) throw new GradeError(`${bad} of ${values.length} predictions are not numbers`);
    const truth = truthCells.map(Number);
    if (spec.metric === "rmse") return rmse(truth, values);
    if (spec.metric === "mae") return mae(truth, values);
    if (spec.metric === "r2") return r2(truth, values);
    throw new GradeError(`metric ${spec.metric} does not fit a regression task`);
  }
  const probabilities = classProbabilities(spec, predicted, rows);
  const truth = truthCells.map((cell) => asClass(cell, spec.classes));
  const positive = spec.positive_class ?? spec.classes[1]!;
  switch (spec.metric) {
    case "accuracy":
    case "f1":
    case "f1_macro": {
      // A row with no probability anywhere (a label that is no class) matches no truth.
      const labels = probabilities.map((row) => (row.some((p) => p > 0) ? spec.classes[argmax(row)]! : ""));
      if (spec.metric === "accuracy") return accuracy(truth, labels);
      return spec.metric === "f1" ? f1(truth, labels, positive) : f1Macro(truth, labels);
    }
    case "roc_auc": {
      if (spec.problem_type !== "binary") throw new GradeError("roc_auc is graded for binary tasks only");
      const column = spec.classes.indexOf(positive);
      return rocAuc(
        truth.map((value) => (value === positive ? 1 : 0)),
        probabilities.map((row) => row[column]!),
      );
    }
    case "log_loss":
      return logLoss(truth, probabilities, spec.classes);
    default:
      throw new GradeError(`metric ${spec.metric} does not fit a classification task`);
  }
}

/** For each answer row, its predicted row. */
function alignRows(spec: TaskSpec, answers: Table, predicted: Table): Cell[][] {
  if (spec.keys.length === 0) {
    if (predicted.rows.length !== answers.rows.length) {
      throw new GradeError(`${predicted.rows.length} predicted rows for ${answers.rows.length} test rows (matched by order)`);
    }
    return predicted.rows;
  }
  const missingKeys = spec.keys.filter((key) => !predicted.columns.includes(key));
  if (missingKeys.length > 0) throw new GradeError(`the predictions lack the key column(s) ${missingKeys.join(", ")}`);
  const keyOf = (table: Table, row: Cell[]) => spec.keys.map((key) => normalKey(row[table.columns.indexOf(key)])).join("\u0000");
  const byKey = new Map<string, Cell[]>();
  for (const row of predicted.rows) {
    const key = keyOf(predicted, row);
    if (byKey.has(key)) throw new GradeError(`the predictions hold ${spec.keys.join("+")} ${key.replaceAll("\u0000", "+")} twice`);
    byKey.set(key, row);
  }
  const missing = answers.rows.filter((row) => !byKey.has(keyOf(answers, row)));
  if (missing.length > 0) {
    const example = keyOf(answers, missing[0]!).replaceAll("\u0000", "+");
    throw new GradeError(`${missing.length} of ${answers.rows.length} test rows have no prediction (e.g. ${example})`);
  }
  return answers.rows.map((row) => byKey.get(keyOf(answers, row))!);
}

/**
 * A key as text that survives a round trip through a program: numbers
 * compared as numbers ("7" = "7.0"), a date at midnight as the date, a
 * path by its file name (image ids may be written with their folder).
 */
function normalKey(cell: Cell): string {
  const value = text(cell).trim();
  if (value !== "" && Number.isFinite(Number(value))) return String(Number(value));
  const midnight = /^(\d{4}-\d{2}-\d{2})(?:[T ]00:00(?::00(?:\.0+)?)?Z?)?$/.exec(value);
  if (midnight) return midnight[1]!;
  return value.includes("/") ? value.slice(value.lastIndexOf("/") + 1) : value;
}

/** The column holding the prediction: the label column, else the one column besides the keys. */
function predictionColumn(spec: TaskSpec, predicted: Table): number {
  const label = predicted.columns.indexOf(spec.label);
  if (label >= 0) return label;
  const others = predicted.columns.filter((column) => !spec.keys.includes(column));
  if (others.length === 1) return predicted.columns.indexOf(others[0]!);
  throw new GradeError(`no prediction column: expected ${spec.label}, found ${predicted.columns.join(", ")}`);
}

/** One probability per class (in spec.classes order) for each row, whatever form the predictions take. */
function classProbabilities(spec: TaskSpec, predicted: Table, rows: Cell[][]): number[][] {
  if (spec.classes.every((name) => predicted.columns.includes(name))) {
    const columns = spec.classes.map((name) => predicted.columns.indexOf(name));
    return rows.map((row) =>
      columns.map((column) => {
        const value = Number(text(row[column]));
        if (!Number.isFinite(value) || value < 0) throw new GradeError(`class probability ${text(row[column])} is not a probability`);
        return value;
      }),
    );
  }
  const column = predictionColumn(spec, predicted);
  const cells = rows.map((row) => text(row[column]));
  const numbers = cells.map(Number);
  const probabilities = cells.every((cell, index) => cell.trim() !== "" && numbers[index]! >= 0 && numbers[index]! <= 1);
  if (spec.problem_type === "binary" && probabilities && !cells.every((cell) => spec.classes.includes(asClass(cell, spec.classes)))) {
    const positive = spec.positive_class ?? spec.classes[1]!;
    return numbers.map((p) => spec.classes.map((name) => (name === positive ? p : 1 - p)));
  }
  // Labels; one that is no class (or missing) gets no probability anywhere, so it counts as wrong.
  return cells.map((cell) => spec.classes.map((name) => (name === asClass(cell, spec.classes) ? 1 : 0)));
}

/** A predicted label as the class it names: exact, else numerically equal ("1.0" for class "1"). */
function asClass(cell: string, classes: readonly string[]): string {
  if (classes.includes(cell)) return cell;
  const value = Number(cell);
  if (cell.trim() === "" || !Number.isFinite(value)) return cell;
  return classes.find((name) => name.trim() !== "" && Number(name) === value) ?? cell;
}

function argmax(row: readonly number[]): number {
  let best = 0;
  row.forEach((value, index) => {
    if (value > row[best]!) best = index;
  });
  return best;
}

function text(cell: Cell): string {
  return cell === undefined ? "" : String(cell);
}
