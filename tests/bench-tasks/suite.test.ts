import { execFile } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { readTable, type Table } from "@mlzero/tables";
import { beforeAll, describe, expect, it } from "vitest";
import { GradeError, gradeFile, gradeTables } from "./grade.js";
import { normalisedScore } from "./run-task.js";
import { ensureSuite, pythonBin, type BenchTask, type TaskSpec } from "./suite.js";

// The suite's shape and its graders, without running mlzero (that is `make
// bench-tasks`). The first run on a machine generates the suite (under a
// minute on 2 idle cores); later runs reuse .cache/bench-tasks.

const MODALITIES = ["tabular", "text", "image", "time_series", "multimodal"];

/** Every file below a folder, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

/** A table's header; Excel through pandas, which libs/tables does not read. */
async function header(file: string): Promise<string[]> {
  if (file.endsWith(".xlsx")) {
    const script = "import sys, pandas; print('\\n'.join(pandas.read_excel(sys.argv[1], nrows=0).columns))";
    const { stdout } = await promisify(execFile)(pythonBin(), ["-c", script, file]);
    return stdout.trim().split("\n");
  }
  return (await readTable(file, { maxRows: 1 })).columns;
}

function table(columns: string[], rows: (string | number)[][]): Table {
  return { format: "csv", columns, rows: rows.map((row) => row.map(String)), totalRows: rows.length };
}

describe("benchmark task suite", () => {
  let tasks: BenchTask[];
  beforeAll(async () => {
    tasks = await ensureSuite();
  }, 600_000);

  it("has at least 15 tasks over every modality and many input forms", () => {
    expect(tasks.length).toBeGreaterThanOrEqual(15);
    const specs = tasks.map((task) => task.spec);
    expect(new Set(specs.map((spec) => spec.modality))).toEqual(new Set(MODALITIES));
    const tabular = specs.filter((spec) => spec.modality === "tabular");
    expect(new Set(tabular.map((spec) => spec.problem_type))).toEqual(new Set(["binary", "multiclass", "regression"]));
    const formats = new Set(specs.map((spec) => path.extname(spec.files.train)));
    for (const format of [".csv", ".tsv", ".json", ".jsonl", ".parquet", ".xlsx"]) expect(formats, format).toContain(format);
    for (const has of [true, false]) {
      expect(specs.some((spec) => (spec.files.description !== undefined) === has)).toBe(true);
      expect(specs.some((spec) => (spec.files.sample_submission !== undefined) === has)).toBe(true);
      expect(specs.some((spec) => spec.keys.length > 0 === has)).toBe(true);
    }
    expect(new Set(specs.map((spec) => spec.name)).size).toBe(specs.length);
  });

  it("lays each task out as a raw folder with the answers kept outside it", async () => {
    for (const { spec, inputDir, hiddenDir } of tasks) {
      const where = spec.name;
      expect(path.relative(inputDir, hiddenDir).startsWith(".."), where).toBe(true);
      const files = await filesUnder(inputDir);
      for (const relative of [
        spec.files.train,
        spec.files.test,
        spec.files.sample_submission,
        spec.files.description,
        ...(spec.files.extra ?? []),
      ]) {
        if (relative !== undefined) expect(existsSync(path.join(inputDir, relative)), `${where}: ${relative}`).toBe(true);
      }
      // Nothing of the hidden folder is in the input, by name or by content.
      const hiddenNames = await readdir(hiddenDir);
      expect(
        files.filter((file) => hiddenNames.includes(path.basename(file))),
        where,
      ).toEqual([]);
      if (spec.files.test.endsWith("/")) {
        // Images to predict: files only, no class folders that would give the answers away.
        const test = path.join(inputDir, spec.files.test);
        const entries = await readdir(test, { withFileTypes: true });
        expect(
          entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name),
          where,
        ).toEqual([]);
        expect(entries.length, where).toBe(spec.test_rows);
      } else {
        const testColumns = await header(path.join(inputDir, spec.files.test));
        expect(testColumns, where).not.toContain(spec.label);
        for (const key of spec.keys) expect(testColumns, `${where}: key ${key}`).toContain(key);
        if (!spec.files.train.endsWith("/")) expect(await header(path.join(inputDir, spec.files.train)), where).toContain(spec.label);
      }
      if (spec.files.sample_submission !== undefined) {
        const sample = await readTable(path.join(inputDir, spec.files.sample_submission));
        expect(sample.totalRows, where).toBe(spec.test_rows);
      }
    }
  });

  it("grades the hidden answers themselves at the metric's perfect score", async () => {
    for (const task of tasks) {
      const score = await gradeFile(task, path.join(task.hiddenDir, "answers.csv"));
      expect(score, task.spec.name).toBeCloseTo(task.spec.perfect_score, 9);
    }
  });

  it("grades the trivial and reference predictions as scikit-learn scored them, the reference better", async () => {
    for (const task of tasks) {
      const { spec, hiddenDir } = task;
      const trivial = await gradeFile(task, path.join(hiddenDir, "trivial.csv"));
      const reference = await gradeFile(task, path.join(hiddenDir, "reference.csv"));
      expect(trivial, `${spec.name} trivial`).toBeCloseTo(spec.trivial.score, 9);
      expect(reference, `${spec.name} reference`).toBeCloseTo(spec.reference.score, 9);
      expect(spec.greater_is_better ? reference > trivial : reference < trivial, spec.name).toBe(true);
      expect(normalisedScore(trivial, spec.trivial.score, spec.reference.score), spec.name).toBeCloseTo(0, 9);
      expect(normalisedScore(reference, spec.trivial.score, spec.reference.score), spec.name).toBeCloseTo(1, 9);
    }
  });

  it("refuses predictions that miss test rows or lack the key column", async () => {
    const task = tasks.find((candidate) => candidate.spec.keys.length > 0 && !candidate.spec.files.test.endsWith("/"))!;
    const answers = await readTable(path.join(task.hiddenDir, "answers.csv"));
    const short = { ...answers, rows: answers.rows.slice(1) };
    expect(() => gradeTables(task.spec, answers, short)).toThrow(/1 of \d+ test rows have no prediction/);
    const keyless = table(
      [task.spec.label],
      answers.rows.map((row) => [String(row[answers.columns.indexOf(task.spec.label)])]),
    );
    expect(() => gradeTables(task.spec, answers, keyless)).toThrow(GradeError);
  });
});

describe("grading predictions in the forms a program may write", () => {
  const binary: TaskSpec = {
    name: "toy",
    modality: "tabular",
    problem_type: "binary",
    metric: "roc_auc",
    greater_is_better: true,
    perfect_score: 1,
    label: "y",
    keys: ["id"],
    classes: ["no", "yes"],
    positive_class: "yes",
    source: "",
    form: "",
    files: { train: "train.csv", test: "test.csv" },
    test_rows: 4,
    trivial: { method: "class priors", score: 0.5 },
    reference: { model: "", score: 1 },
  };
  const answers = table(
    ["id", "y"],
    [
      [1, "no"],
      [2, "yes"],
      [3, "no"],
      [4, "yes"],
    ],
  );

  it("reads the positive class's probability, labels, or a probability per class, keyed in any order", () => {
    const probabilities = table(
      ["id", "y"],
      [
        [4, 0.9],
        [3, 0.2],
        [2, 0.6],
        [1, 0.1],
      ],
    );
    expect(gradeTables(binary, answers, probabilities)).toBe(1);
    const labels = table(
      ["id", "y"],
      [
        [1, "no"],
        [2, "yes"],
        [3, "yes"],
        [4, "yes"],
      ],
    );
    expect(gradeTables(binary, answers, labels)).toBeCloseTo(0.75, 12);
    const perClass = table(
      ["id", "no", "yes"],
      [
        [1, 0.8, 0.2],
        [2, 0.3, 0.7],
        [3, 0.6, 0.4],
        [4, 0.1, 0.9],
      ],
    );
    expect(gradeTables({ ...binary, metric: "accuracy" }, answers, perClass)).toBe(1);
  });

  it("matches keys written as numbers, midnight time stamps or paths", () => {
    const spec: TaskSpec = { ...binary, keys: ["when"], metric: "accuracy" };
    const dated = table(
      ["when", "y"],
      [
        ["2024-01-01", "no"],
        ["2024-01-02", "yes"],
      ],
    );
    const written = table(
      ["when", "y"],
      [
        ["2024-01-02 00:00:00", "yes"],
        ["2024-01-01T00:00:00", "no"],
      ],
    );
    expect(gradeTables(spec, dated, written)).toBe(1);
    const files = table(["when", "y"], [["img_1.png", "no"]]);
    expect(gradeTables(spec, files, table(["when", "y"], [["test/img_1.png", "no"]]))).toBe(1);
    expect(
      gradeTables(
        { ...spec, keys: ["id"] },
        answers,
        table(
          ["id", "y"],
          [
            ["1.0", "no"],
            ["2", "yes"],
            ["3", "no"],
            ["4.00", "yes"],
          ],
        ),
      ),
    ).toBe(1);
  });

  it("counts a label that is no class as wrong, and a non-number as ungradable for regression", () => {
    const labels = table(
      ["id", "y"],
      [
        [1, "no"],
        [2, "yes"],
        [3, "maybe"],
        [4, "yes"],
      ],
    );
    expect(gradeTables({ ...binary, metric: "accuracy" }, answers, labels)).toBe(0.75);
    const regression: TaskSpec = { ...binary, problem_type: "regression", metric: "rmse", classes: [], positive_class: null };
    const truth = table(
      ["id", "y"],
      [
        [1, 1],
        [2, 2],
      ],
    );
    expect(
      gradeTables(
        regression,
        truth,
        table(
          ["id", "y"],
          [
            [1, 1],
            [2, 4],
          ],
        ),
      ),
    ).toBeCloseTo(Math.sqrt(2), 12);
    expect(() =>
      gradeTables(
        regression,
        truth,
        table(
          ["id", "y"],
          [
            [1, 1],
            [2, "n/a"],
          ],
        ),
      ),
    ).toThrow(/not numbers/);
  });
});
