import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ProgramConfig } from "@mlzero/program";

/**
 * Small generated tabular tasks with a known signal, for running program
 * templates end to end: the shapes real data folders have (string
 * categoricals, missing values, integer and string labels, several file
 * formats) at a size that trains in seconds.
 */
export interface SyntheticTask {
  name: string;
  /** Files to write under the task's `input/` folder, by file name. */
  files: Record<string, string>;
  /** Config for a program running in a sibling folder of `input/`. */
  config: ProgramConfig;
  /** Ids of the test rows in file order, when the task has an id column. */
  testIds: string[] | undefined;
  testRows: number;
  /** The true label of each test row, as text, for scoring the predictions file. */
  testTruth: string[];
  /** Standard deviation of the training target (regression only), to set score floors. */
  targetStd: number;
}

/** Seeded uniform [0, 1) generator (mulberry32): the same seed gives the same data everywhere. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(uniform: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

function pick<T>(uniform: () => number, values: readonly T[]): T {
  return values[Math.floor(uniform() * values.length)]!;
}

type Row = Record<string, string | number | boolean | null>;

function delimited(rows: Row[], separator: string): string {
  const columns = Object.keys(rows[0]!);
  const cell = (value: Row[string]): string => (value === null ? "" : String(value));
  return [columns.join(separator), ...rows.map((row) => columns.map((column) => cell(row[column]!)).join(separator))].join("\n") + "\n";
}

function withoutColumn(rows: Row[], column: string): Row[] {
  return rows.map(({ [column]: _dropped, ...rest }) => rest);
}

function baseConfig(): Omit<ProgramConfig, "train_path" | "test_path" | "train_format" | "test_format"> {
  return {
    label_column: "",
    id_column: null,
    ignore_columns: [],
    problem_type: "binary",
    metric: "",
    output_path: "outputs/submission.csv",
    output_columns: [],
    class_probabilities: false,
    positive_class: null,
    label_values: [],
    time_limit_seconds: 60,
    reduce_level: 0,
    seed: 7,
  };
}

/**
 * Binary task in CSV: string labels "yes"/"no", string categoricals and
 * numbers with ~10% missing, an id column, and a `leak` column equal to the
 * label that the config lists in ignore_columns (a program that used it
 * would score a perfect AUC).
 */
export function binaryTask(trainRows = 2000, testRows = 400): SyntheticTask {
  const uniform = random(11);
  const make = (count: number, offset: number): Row[] =>
    Array.from({ length: count }, (_, index) => {
      const x1 = normal(uniform);
      const x2 = normal(uniform);
      const color = pick(uniform, ["red", "green", "blue"] as const);
      const logit = 1.5 * x1 - x2 + (color === "red" ? 1.2 : color === "blue" ? -0.8 : 0) + 0.5 * normal(uniform);
      const label = logit > 0 ? "yes" : "no";
      return {
        id: `r${String(offset + index).padStart(5, "0")}`,
        x1: uniform() < 0.1 ? null : Number(x1.toFixed(4)),
        x2: Number(x2.toFixed(4)),
        color: uniform() < 0.1 ? null : color,
        shop: pick(uniform, ["a", "b", "c", "d", "e"]),
        leak: label === "yes" ? 1 : 0,
        y: label,
      };
    });
  const labelled = make(testRows, trainRows);
  const test = withoutColumn(labelled, "y");
  return {
    name: "binary",
    files: { "train.csv": delimited(make(trainRows, 0), ","), "test.csv": delimited(test, ",") },
    config: {
      ...baseConfig(),
      train_path: "../input/train.csv",
      test_path: "../input/test.csv",
      train_format: "csv",
      test_format: "csv",
      label_column: "y",
      id_column: "id",
      ignore_columns: ["leak"],
      problem_type: "binary",
      metric: "roc_auc",
      output_columns: ["id", "y"],
      label_values: ["no", "yes"],
    },
    testIds: test.map((row) => String(row.id)),
    testRows,
    testTruth: labelled.map((row) => String(row.y)),
    targetStd: 0,
  };
}

/**
 * Multiclass task: train as a JSON array of records, test as TSV, integer
 * labels 3/5/7, a string categorical with nulls, an integer id column, and
 * one probability column per class named after the label.
 */
export function multiclassTask(trainRows = 1500, testRows = 300): SyntheticTask {
  const uniform = random(23);
  const make = (count: number, offset: number): Row[] =>
    Array.from({ length: count }, (_, index) => {
      const a = normal(uniform);
      const b = normal(uniform);
      const size = pick(uniform, ["S", "M", "L"] as const);
      const scores = [a + (size === "S" ? 1 : 0), b + (size === "L" ? 0.5 : 0), -a - b].map((value) => value + 0.4 * normal(uniform));
      const label = [3, 5, 7][scores.indexOf(Math.max(...scores))]!;
      return { row_id: offset + index, a: Number(a.toFixed(4)), b: Number(b.toFixed(4)), size: uniform() < 0.05 ? null : size, label };
    });
  const labelled = make(testRows, 100_000);
  const test = withoutColumn(labelled, "label");
  return {
    name: "multiclass",
    files: { "train.json": JSON.stringify(make(trainRows, 0)), "test.tsv": delimited(test, "\t") },
    config: {
      ...baseConfig(),
      train_path: "../input/train.json",
      test_path: "../input/test.tsv",
      train_format: "json",
      test_format: "tsv",
      label_column: "label",
      id_column: "row_id",
      problem_type: "multiclass",
      metric: "log_loss",
      output_columns: ["row_id", "3", "5", "7"],
      class_probabilities: true,
      label_values: ["3", "5", "7"],
    },
    testIds: test.map((row) => String(row.row_id)),
    testRows,
    testTruth: labelled.map((row) => String(row.label)),
    targetStd: 0,
  };
}

/**
 * Regression task: train as JSONL, test as JSONL meant to be converted to
 * parquet (`test.parquet`) by the caller, no id column, a boolean and a
 * string feature, and a non-linear target.
 */
export function regressionTask(trainRows = 1500, testRows = 300): SyntheticTask {
  const uniform = random(37);
  const effects = { north: 2, south: -1, east: 0.5, west: 0 } as const;
  const make = (count: number): Row[] =>
    Array.from({ length: count }, () => {
      const u = normal(uniform);
      const v = normal(uniform);
      const region = pick(uniform, Object.keys(effects) as (keyof typeof effects)[]);
      const flag = uniform() < 0.3;
      const target = 3 * u + v * v + effects[region] + (flag ? 2 : 0) + 0.5 * normal(uniform);
      return {
        u: uniform() < 0.05 ? null : Number(u.toFixed(4)),
        v: Number(v.toFixed(4)),
        region,
        flag,
        target: Number(target.toFixed(4)),
      };
    });
  const train = make(trainRows);
  const targets = train.map((row) => Number(row.target));
  const mean = targets.reduce((sum, value) => sum + value, 0) / targets.length;
  const std = Math.sqrt(targets.reduce((sum, value) => sum + (value - mean) ** 2, 0) / targets.length);
  const labelled = make(testRows);
  const jsonl = (rows: Row[]): string => rows.map((row) => JSON.stringify(row)).join("\n") + "\n";
  return {
    name: "regression",
    files: { "train.jsonl": jsonl(train), "test.jsonl": jsonl(withoutColumn(labelled, "target")) },
    config: {
      ...baseConfig(),
      train_path: "../input/train.jsonl",
      test_path: "../input/test.parquet",
      train_format: "jsonl",
      test_format: "parquet",
      label_column: "target",
      problem_type: "regression",
      metric: "rmse",
      output_columns: ["target"],
    },
    testIds: undefined,
    testRows,
    testTruth: labelled.map((row) => String(row.target)),
    targetStd: std,
  };
}

/** Writes a task's input files under `<taskDir>/input/`. */
export async function writeTaskInput(taskDir: string, task: SyntheticTask): Promise<void> {
  const input = path.join(taskDir, "input");
  await mkdir(input, { recursive: true });
  await Promise.all(Object.entries(task.files).map(([name, content]) => writeFile(path.join(input, name), content)));
}
