import { lstat, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { DomainError, FailedPreconditionError } from "@mlzero/errors";
import { ProblemType, type PerceptualContext } from "@mlzero/proto";
import { readTable, type Cell, type Table, type TableFormat } from "@mlzero/tables";
import { cellKey, finiteNumber, isInfiniteCell, isMissingCell } from "./cell-values.js";
import type { OutputCheck } from "./output-check.js";

/** What the predictions are checked against. */
export interface CheckPredictionsInput {
  /** Absolute path of the predictions file. */
  predictionsPath: string;
  /** How check details name the file, e.g. "iter-001/outputs/submission.csv". */
  displayPath: string;
  /** Absolute path of the test file; undefined when the task has none. */
  testPath?: string;
  /** The test file's format; detected from its name when left out. */
  testFormat?: TableFormat;
  context: PerceptualContext;
}

/** The checks that ran, and their overall outcome. */
export interface PredictionsReport {
  checks: OutputCheck[];
  /** Whether the predictions file exists at all. */
  found: boolean;
  /** Whether no check failed. */
  passed: boolean;
}

/** A row sum of class probabilities may be off by this much (rounding when written). */
const SUM_TOLERANCE = 0.01;

/**
 * Validates a predictions file the way a grader would: it is a CSV with the
 * expected columns in order, one row per test row, every test id exactly
 * once, no missing or infinite values, labels from the training labels,
 * probabilities in [0, 1] (summing to 1 across class columns, or one column
 * for the positive class), finite numbers for regression.
 * The test rows are those of the table perception derived for the programs
 * when there is one (an Excel sheet as CSV, gathered text files), the image
 * files of a test folder (one row each, named by their path in it), or the
 * test file; a forecast has one row per (item, time stamp) it lists.
 * Checks keep running after a failure so the report lists every problem.
 */
export async function checkPredictions(input: CheckPredictionsInput): Promise<PredictionsReport> {
  const checks: OutputCheck[] = [];
  const report = (found: boolean): PredictionsReport => ({ checks, found, passed: checks.every((check) => check.status !== "fail") });
  const info = await lstat(input.predictionsPath).catch(() => undefined);
  if (info === undefined) {
    checks.push({ name: "file", status: "fail", detail: `${input.displayPath} does not exist` });
    return report(false);
  }
  // A link is refused rather than followed: the program is untrusted.
  if (!info.isFile()) {
    checks.push({ name: "file", status: "fail", detail: `${input.displayPath} is not a regular file` });
    return report(true);
  }
  checks.push({ name: "file", status: "pass", detail: `${input.displayPath} exists (${info.size} bytes)` });

  const output = input.context.output;
  const expected = output?.columns ?? [];
  let predictions: Table;
  try {
    predictions = await readTable(input.predictionsPath, { format: "csv" });
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    checks.push({ name: "format", status: "fail", detail: `not a readable CSV: ${error.message}` });
    return report(true);
  }
  if (expected.length > 1 && predictions.delimiter !== ",") {
    checks.push({ name: "format", status: "fail", detail: `fields are separated by ${JSON.stringify(predictions.delimiter)}, not commas` });
  } else {
    checks.push({ name: "format", status: "pass", detail: `CSV with ${predictions.totalRows} rows` });
  }
  checks.push(checkColumns(expected, predictions.columns));

  const test = input.testPath === undefined ? undefined : await readTest(input.testPath, input.testFormat, input.context);
  if (test === undefined) {
    checks.push({ name: "rows", status: "skip", detail: "the task has no test file to compare with" });
  } else {
    const status = test.totalRows === predictions.totalRows ? "pass" : "fail";
    checks.push({ name: "rows", status, detail: `${predictions.totalRows} rows, the test file has ${test.totalRows}` });
  }
  const idColumn = output?.idColumn ?? "";
  if (idColumn !== "" && test !== undefined) checks.push(checkIds(idColumn, test, predictions));
  const series = input.context.timeSeries;
  const seriesColumns = series === undefined ? [] : [series.itemColumn, series.timestampColumn].filter((column) => column !== "");
  if (seriesColumns.length > 0 && test !== undefined) checks.push(checkSteps(seriesColumns, test, predictions));

  const present = expected.filter((column) => predictions.columns.includes(column));
  // A forecast's item and time stamp name its rows, like the id: they are not values to check.
  const valueColumns = present.filter((column) => column !== idColumn && !seriesColumns.includes(column));
  const labels = new Set(input.context.labelValues.map((value) => cellKey(value)));
  checks.push(checkMissing(present, predictions, labels));
  checks.push(...checkValues(input.context, valueColumns, predictions, labels));
  return report(true);
}

async function readTest(testPath: string, format: TableFormat | undefined, context: PerceptualContext): Promise<Table> {
  try {
    const derived = derivedTestPath(testPath, context);
    if (derived !== undefined) return await readTable(derived, { format: "csv" });
    if ((await stat(testPath)).isDirectory()) return await listExamples(testPath, context);
    return await readTable(testPath, format === undefined ? {} : { format });
  } catch (error) {
    // Perception has read this file before: failing here is not the program's fault.
    throw new FailedPreconditionError(
      `the test file cannot be read to check predictions: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/**
 * The CSV perception derived from the test file for the programs, which
 * holds the same rows: its path is relative to the task folder, the data
 * folder's parent, and the test path is the data folder's test file.
 */
function derivedTestPath(testPath: string, context: PerceptualContext): string | undefined {
  if (context.derivedTestFile === "" || context.testFile === "") return undefined;
  const suffix = `${path.sep}${path.normalize(context.testFile).replace(/[/\\]+$/, "")}`;
  if (!testPath.endsWith(suffix)) return undefined;
  const taskDir = path.dirname(testPath.slice(0, -suffix.length));
  const derived = path.resolve(taskDir, context.derivedTestFile);
  return derived.startsWith(taskDir + path.sep) ? derived : undefined;
}

/** Extensions of the image files an image program predicts (those the image templates list). */
const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"]);

/**
 * A test folder as a table: one row per example file under it (image files
 * for an image task), hidden files and folders left out, its path relative
 * to the folder in the id column, in sorted order, as the programs list them.
 */
async function listExamples(folder: string, context: PerceptualContext): Promise<Table> {
  const wanted = (name: string) =>
    !name.startsWith(".") && (context.images === undefined || IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase()));
  const found: string[] = [];
  const visit = async (dir: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name.startsWith(".")) continue;
      if (entry.isDirectory()) await visit(path.join(dir, entry.name), `${prefix}${entry.name}/`);
      else if (entry.isFile() && wanted(entry.name)) found.push(`${prefix}${entry.name}`);
    }
  };
  await visit(folder, "");
  found.sort();
  const idColumn = context.output?.idColumn || context.idColumn || "path";
  return { format: "csv", columns: [idColumn], rows: found.map((file) => [file]), totalRows: found.length };
}

/** A forecast writes every (item, time stamp) the test rows ask for, once. */
function checkSteps(columns: string[], test: Table, predictions: Table): OutputCheck {
  const testIndexes = columns.map((column) => test.columns.indexOf(column));
  const predictedIndexes = columns.map((column) => predictions.columns.indexOf(column));
  const named = columns.join(", ");
  if (testIndexes.some((index) => index < 0)) return { name: "series", status: "skip", detail: `the test rows lack ${named}` };
  if (predictedIndexes.some((index) => index < 0))
    return { name: "series", status: "skip", detail: `the predictions do not name their ${named}` };
  const key = (row: Cell[], indexes: number[]) => indexes.map((index) => String(row[index] ?? "").trim()).join(" @ ");
  const wanted = new Set(test.rows.map((row) => key(row, testIndexes)));
  const counts = new Map<string, number>();
  for (const row of predictions.rows) counts.set(key(row, predictedIndexes), (counts.get(key(row, predictedIndexes)) ?? 0) + 1);
  const missing = [...wanted].filter((step) => !counts.has(step));
  const repeated = [...counts].filter(([step, count]) => count > 1 && wanted.has(step)).map(([step]) => step);
  const unknown = [...counts.keys()].filter((step) => !wanted.has(step));
  if (missing.length + repeated.length + unknown.length === 0) {
    return { name: "series", status: "pass", detail: `every one of ${wanted.size} (${named}) steps to forecast appears once` };
  }
  const problems = [
    missing.length > 0 ? `${missing.length} steps missing (${examples(missing)})` : "",
    repeated.length > 0 ? `${repeated.length} steps repeated (${examples(repeated)})` : "",
    unknown.length > 0 ? `${unknown.length} steps not asked for (${examples(unknown)})` : "",
  ].filter((problem) => problem !== "");
  return { name: "series", status: "fail", detail: problems.join("; ") };
}

function checkColumns(expected: string[], actual: string[]): OutputCheck {
  if (expected.length === 0) return { name: "columns", status: "skip", detail: "no expected columns are known" };
  if (expected.length === actual.length && expected.every((column, index) => actual[index] === column)) {
    return { name: "columns", status: "pass", detail: `[${expected.join(", ")}]` };
  }
  const missing = expected.filter((column) => !actual.includes(column));
  const extra = actual.filter((column) => !expected.includes(column));
  const problems = [
    missing.length > 0 ? `missing ${missing.join(", ")}` : "",
    extra.length > 0 ? `unexpected ${extra.join(", ")}` : "",
    missing.length === 0 && extra.length === 0 ? "wrong order" : "",
  ].filter((problem) => problem !== "");
  return {
    name: "columns",
    status: "fail",
    detail: `expected [${expected.join(", ")}], got [${actual.join(", ")}] (${problems.join("; ")})`,
  };
}

function checkIds(idColumn: string, test: Table, predictions: Table): OutputCheck {
  const testIndex = test.columns.indexOf(idColumn);
  const predictedIndex = predictions.columns.indexOf(idColumn);
  if (testIndex < 0) return { name: "ids", status: "skip", detail: `the test file has no ${idColumn} column` };
  if (predictedIndex < 0) return { name: "ids", status: "fail", detail: `the predictions have no ${idColumn} column` };
  const counts = new Map<string, number>();
  for (const row of predictions.rows) {
    const id = cellKey(row[predictedIndex]);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const testIds = new Set(test.rows.map((row) => cellKey(row[testIndex])));
  const missing = [...testIds].filter((id) => !counts.has(id));
  const duplicated = [...counts].filter(([id, count]) => count > 1 && testIds.has(id)).map(([id]) => id);
  const unknown = [...counts.keys()].filter((id) => !testIds.has(id));
  if (missing.length + duplicated.length + unknown.length === 0) {
    return { name: "ids", status: "pass", detail: `every one of ${testIds.size} test ids appears once` };
  }
  const problems = [
    missing.length > 0 ? `${missing.length} test ids missing (${examples(missing)})` : "",
    duplicated.length > 0 ? `${duplicated.length} ids repeated (${examples(duplicated)})` : "",
    unknown.length > 0 ? `${unknown.length} ids not in the test file (${examples(unknown)})` : "",
  ].filter((problem) => problem !== "");
  return { name: "ids", status: "fail", detail: problems.join("; ") };
}

function checkMissing(columns: string[], predictions: Table, labels: Set<string>): OutputCheck {
  const problems: string[] = [];
  for (const column of columns) {
    const index = predictions.columns.indexOf(column);
    const rows = rowNumbers(predictions.rows, (row) => isAbsent(row[index], labels));
    if (rows.length > 0) problems.push(`${column} has ${rows.length} missing or infinite values (rows ${examples(rows)})`);
  }
  return problems.length === 0
    ? { name: "missing values", status: "pass", detail: "no missing, NaN or infinite values" }
    : { name: "missing values", status: "fail", detail: problems.join("; ") };
}

function checkValues(context: PerceptualContext, columns: string[], predictions: Table, labels: Set<string>): OutputCheck[] {
  if (columns.length === 0) return [];
  const indices = columns.map((column) => predictions.columns.indexOf(column));
  const cellsOf = (row: Cell[]) => indices.map((index) => row[index]);
  const classification = context.problemType === ProblemType.BINARY || context.problemType === ProblemType.MULTICLASS;
  // Probabilities either one column per class, or (binary tasks scored on
  // AUC or log loss) one column holding the positive class's probability.
  const positiveClass = context.output?.positiveClass ?? "";
  if (classification && (context.output?.classProbabilities || positiveClass !== "")) {
    const outOfRange = rowNumbers(predictions.rows, (row) =>
      cellsOf(row).some((cell) => {
        if (isAbsent(cell, labels)) return false; // reported as missing already
        const value = finiteNumber(cell);
        return value === undefined || value < 0 || value > 1;
      }),
    );
    const badSums =
      columns.length < 2
        ? []
        : rowNumbers(predictions.rows, (row) => {
            const values = cellsOf(row).map(finiteNumber);
            if (values.some((value) => value === undefined)) return false; // reported above
            return Math.abs(values.reduce((sum: number, value) => sum + (value ?? 0), 0) - 1) > SUM_TOLERANCE;
          });
    const problems = [
      outOfRange.length > 0
        ? `${outOfRange.length} rows have a value that is not a probability in [0, 1] (rows ${examples(outOfRange)})`
        : "",
      badSums.length > 0 ? `${badSums.length} rows do not sum to 1 (rows ${examples(badSums)})` : "",
    ].filter((problem) => problem !== "");
    const holds =
      positiveClass !== "" ? `the probability of class ${positiveClass}` : `probabilities${columns.length > 1 ? " summing to 1" : ""}`;
    return [
      problems.length === 0
        ? { name: "probabilities", status: "pass", detail: `every row holds ${holds}` }
        : { name: "probabilities", status: "fail", detail: problems.join("; ") },
    ];
  }
  if (classification) {
    if (labels.size === 0) return [{ name: "labels", status: "skip", detail: "the training labels are not known" }];
    const unknown = new Set<string>();
    for (const row of predictions.rows) {
      for (const cell of cellsOf(row)) if (!isAbsent(cell, labels) && !labels.has(cellKey(cell))) unknown.add(cellKey(cell));
    }
    return [
      unknown.size === 0
        ? { name: "labels", status: "pass", detail: `every label is one of ${labels.size} training labels` }
        : {
            name: "labels",
            status: "fail",
            detail: `${unknown.size} values are not training labels (${examples([...unknown])}; expected one of ${examples([...labels], 10)})`,
          },
    ];
  }
  if (context.problemType === ProblemType.REGRESSION) {
    const rows = rowNumbers(predictions.rows, (row) =>
      cellsOf(row).some((cell) => !isAbsent(cell, labels) && finiteNumber(cell) === undefined),
    );
    return [
      rows.length === 0
        ? { name: "numbers", status: "pass", detail: "every prediction is a finite number" }
        : { name: "numbers", status: "fail", detail: `${rows.length} rows hold a value that is not a number (rows ${examples(rows)})` },
    ];
  }
  return [{ name: "values", status: "skip", detail: "the problem type is not known" }];
}

/**
 * Blank, NaN or infinite: reported once, by the missing-values check. "NA"
 * or "None" can be a real class label, and then it is a value.
 */
function isAbsent(cell: Cell, labels: Set<string>): boolean {
  return (isMissingCell(cell) || isInfiniteCell(cell)) && !(cell !== undefined && labels.has(cellKey(cell)));
}

/** 1-based numbers of the data rows that match. */
function rowNumbers(rows: Cell[][], matches: (row: Cell[]) => boolean): number[] {
  return rows.flatMap((row, index) => (matches(row) ? [index + 1] : []));
}

function examples(values: (string | number)[], shown = 3): string {
  const listed = values.slice(0, shown).join(", ");
  return values.length > shown ? `${listed}, ...` : listed;
}
