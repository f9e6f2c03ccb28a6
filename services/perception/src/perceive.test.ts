import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { create } from "@bufbuild/protobuf";
import { InvalidInputError, NotFoundError } from "@mlzero/errors";
import { ColumnType, FileRole, Modality, ProblemType, ToolSchema, type PerceptualContext } from "@mlzero/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DESCRIPTION_MAX_CHARS } from "./description.js";
import { perceive } from "./perceive.js";

const PYTHON = resolve(import.meta.dirname, "../../../.venv/bin/python");
const { BINARY, MULTICLASS, REGRESSION } = ProblemType;

const TOOLS = [
  create(ToolSchema, { name: "logreg", modalities: [Modality.TABULAR], problemTypes: [BINARY, MULTICLASS], priority: 10 }),
  create(ToolSchema, {
    name: "autogluon",
    modalities: [Modality.TABULAR, Modality.MULTIMODAL],
    problemTypes: [BINARY, MULTICLASS, REGRESSION],
    priority: 100,
  }),
  create(ToolSchema, { name: "lightgbm", modalities: [Modality.TABULAR], problemTypes: [BINARY, MULTICLASS, REGRESSION], priority: 50 }),
  create(ToolSchema, { name: "timm", modalities: [Modality.IMAGE], problemTypes: [BINARY, MULTICLASS], priority: 90 }),
];

const roots: string[] = [];
afterAll(() => roots.forEach((root) => rmSync(root, { recursive: true, force: true })));

/** A data folder holding the given files (paths may have folders). */
function folder(files: Record<string, string | Buffer>): string {
  const root = mkdtempSync(join(tmpdir(), "mlzero-perception-"));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

function csv(header: string[], rows: (string | number)[][]): string {
  return [header.join(","), ...rows.map((row) => row.join(","))].join("\n") + "\n";
}

function inference(context: PerceptualContext, field: string) {
  return context.inferences.find((entry) => entry.field === field);
}

function column(context: PerceptualContext, path: string, name: string) {
  return context.files.find((file) => file.path === path)?.columns.find((c) => c.name === name);
}

async function perceiveError(inputDir: string, extra: { toolHint?: string; description?: string } = {}): Promise<Error> {
  const error = await perceive({ inputDir, tools: TOOLS, ...extra }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).message).not.toContain("\n");
  return error as Error;
}

describe("perceive: binary task with categoricals, missing values and an AUC description", () => {
  const cities = ["Paris", "Rome", "NA", "", "Berlin"];
  const train = Array.from({ length: 60 }, (_, i) => [
    i + 1,
    i % 9 === 0 ? "" : 20 + (i % 40),
    cities[i % cities.length] ?? "",
    i % 3 === 0 ? "premium" : "basic",
    (1000 + i * 13.5).toFixed(2),
    i % 4 === 0 ? "yes" : "no",
  ]);
  const test = Array.from({ length: 20 }, (_, i) => [101 + i, 30, "Paris", "basic", "1200.00"]);
  const dir = folder({
    "data/train.csv": csv(["id", "age", "city", "plan", "income", "churn"], train),
    "data/test.csv": csv(["id", "age", "city", "plan", "income"], test),
    "data/sample_submission.csv": csv(
      ["id", "churn"],
      test.map((row) => [row[0] ?? 0, 0.5]),
    ),
    "description.md": "# Churn\n\nPredict whether a customer will churn.\nSubmissions are evaluated on area under the ROC curve.\n",
    ".DS_Store": "junk",
    "images/logo.png": Buffer.from([0x89, 0x50, 0x4e, 0x47]),
  });

  it("finds the files, label, id, problem type, metric and output", async () => {
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.modality).toBe(Modality.TABULAR);
    expect(context.trainFile).toBe("data/train.csv");
    expect(context.testFile).toBe("data/test.csv");
    expect(context.sampleSubmissionFile).toBe("data/sample_submission.csv");
    expect(context.descriptionFile).toBe("description.md");
    expect(context.description).toContain("area under the ROC curve");
    expect(context.labelColumn).toBe("churn");
    expect(context.idColumn).toBe("id");
    expect(context.problemType).toBe(BINARY);
    expect(context.labelValues).toEqual(["no", "yes"]);
    expect(context.metric).toMatchObject({ name: "roc_auc", greaterIsBetter: true });
    expect(context.output).toMatchObject({
      fileName: "submission.csv",
      columns: ["id", "churn"],
      idColumn: "id",
      classProbabilities: false,
    });
    expect(context.output?.positiveClass).toBe("yes");
    expect(inference(context, "output.positive_class")?.evidence).toMatch(/holds probabilities \(e\.g\. 0\.5\)/);
    expect(inference(context, "label_column")?.evidence).toBe(
      "column 'churn' is in data/sample_submission.csv and data/train.csv but not in data/test.csv",
    );
    expect(inference(context, "metric")?.evidence).toMatch(/area under the ROC curve/);
  });

  it("takes as id a column the description asks for in the output, though its name does not say id", async () => {
    const train = Array.from({ length: 40 }, (_, i) => [1000 + i, 20 + (i % 30), (i * 7) % 13, 50 + i]);
    const test = Array.from({ length: 10 }, (_, i) => [2000 + i, 30, i % 13]);
    const dir = folder({
      "train.csv": csv(["patient", "age", "bmi", "progression"], train),
      "test.csv": csv(["patient", "age", "bmi"], test),
      "description.md": "Predict progression for each patient.\n\nWrite submission.csv with the columns patient and progression.\n",
    });
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.idColumn).toBe("patient");
    expect(context.output).toMatchObject({ columns: ["patient", "progression"], idColumn: "patient" });
    expect(inference(context, "id_column")?.evidence).toBe(
      "the description asks for column 'patient' in the output, and it names each row of test.csv",
    );
  });

  it("lists every visible file with its role and profiles the columns", async () => {
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.files.map((file) => [file.path, file.format, file.role])).toEqual([
      ["data/sample_submission.csv", "csv", FileRole.SAMPLE_SUBMISSION],
      ["data/test.csv", "csv", FileRole.TEST],
      ["data/train.csv", "csv", FileRole.TRAIN],
      ["description.md", "text", FileRole.DESCRIPTION],
      ["images/logo.png", "other", FileRole.IGNORED],
    ]);
    const trainFile = context.files.find((file) => file.path === "data/train.csv");
    expect(trainFile?.rows).toBe(60n);
    expect(trainFile?.sizeBytes).toBeGreaterThan(0n);
    // "NA" and "" are both missing, as pandas reads them.
    expect(column(context, "data/train.csv", "city")).toMatchObject({ type: ColumnType.CATEGORICAL, missing: 24n, unique: 3n });
    expect(column(context, "data/train.csv", "city")?.examples).toEqual(["Paris", "Rome", "Berlin"]);
    expect(column(context, "data/train.csv", "age")).toMatchObject({ type: ColumnType.INTEGER, missing: 7n, min: 20, max: 59 });
    const income = column(context, "data/train.csv", "income");
    expect(income).toMatchObject({ type: ColumnType.NUMERIC, missing: 0n, unique: 60n, min: 1000, max: 1796.5 });
    expect(income?.mean).toBeCloseTo(1398.25, 6);
  });

  it("ranks the tools that cover the task by priority", async () => {
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.tools.map((tool) => tool.name)).toEqual(["autogluon", "lightgbm", "logreg"]);
    expect(context.tools[0]?.reason).toBe("covers tabular binary (priority 100)");
  });

  it("puts a hinted tool first, whatever its case", async () => {
    const context = await perceive({ inputDir: dir, tools: TOOLS, toolHint: "LightGBM" });
    expect(context.tools.map((tool) => [tool.name, tool.reason.split(" ")[0]])).toEqual([
      ["lightgbm", "requested"],
      ["autogluon", "covers"],
      ["logreg", "covers"],
    ]);
  });

  it("rejects a hint that names no registry tool, listing the known ones", async () => {
    const error = await perceiveError(dir, { toolHint: "xgboost" });
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toBe('unknown tool "xgboost": known tools are autogluon, lightgbm, logreg, timm');
  });
});

describe("perceive: regression from JSON Lines, output format only in a description", () => {
  const hoods = ["north", "south", "east"];
  const rows = Array.from({ length: 80 }, (_, i) => ({
    house_id: `h${i}`,
    sqft: 500 + i * 17,
    rooms: 1 + (i % 5),
    neighborhood: hoods[i % 3],
    price: 100000 + i * 1234.5,
  }));
  const jsonl = (records: object[]) => records.map((record) => JSON.stringify(record)).join("\n") + "\n";
  const dir = folder({
    "train.jsonl": jsonl(rows),
    "test.jsonl": jsonl(rows.slice(0, 10).map(({ price: _price, ...rest }) => ({ ...rest, house_id: `t${rest.house_id}` }))),
    "task.txt":
      "Estimate the sale price of each house from train.jsonl.\nWrite your predictions to results.csv with columns house_id, price.\nWe score with mean absolute error.\n",
  });

  it("infers a regression on the column test lacks, with the described output", async () => {
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.trainFile).toBe("train.jsonl");
    expect(context.testFile).toBe("test.jsonl");
    expect(context.sampleSubmissionFile).toBe("");
    expect(context.descriptionFile).toBe("task.txt");
    expect(context.labelColumn).toBe("price");
    expect(inference(context, "label_column")?.evidence).toBe("column 'price' is in train.jsonl but not in test.jsonl");
    expect(context.idColumn).toBe("house_id");
    expect(context.problemType).toBe(REGRESSION);
    expect(context.labelValues).toEqual([]);
    expect(context.metric).toMatchObject({ name: "mae", greaterIsBetter: false });
    expect(context.output).toMatchObject({
      fileName: "results.csv",
      columns: ["house_id", "price"],
      idColumn: "house_id",
      classProbabilities: false,
    });
    expect(inference(context, "output.file_name")?.evidence).toContain("results.csv");
    expect(context.files.find((file) => file.path === "train.jsonl")).toMatchObject({ format: "jsonl", rows: 80n, role: FileRole.TRAIN });
    expect(column(context, "train.jsonl", "neighborhood")?.type).toBe(ColumnType.CATEGORICAL);
    expect(context.tools.map((tool) => tool.name)).toEqual(["autogluon", "lightgbm"]);
  });

  it("puts the request's description first and caps the text", async () => {
    const context = await perceive({
      inputDir: dir,
      tools: TOOLS,
      description: `Evaluate with RMSE. ${"x".repeat(DESCRIPTION_MAX_CHARS)}`,
    });
    expect(context.description).toHaveLength(DESCRIPTION_MAX_CHARS);
    expect(context.description.startsWith("Evaluate with RMSE.")).toBe(true);
    expect(context.metric).toMatchObject({ name: "rmse", greaterIsBetter: false });
  });
});

describe("perceive: multiclass with no description and unusual file names", () => {
  const species = ["setosa", "versicolor", "virginica"];
  const dir = folder({
    "fit_me.csv": csv(
      ["sepal_length", "sepal_width", "petal_length", "species"],
      Array.from({ length: 45 }, (_, i) => [
        (4 + (i % 30) / 10).toFixed(1),
        (2 + (i % 20) / 10).toFixed(1),
        (1 + (i % 50) / 10).toFixed(1),
        species[i % 3] ?? "",
      ]),
    ),
    "score_me.csv": csv(
      ["sepal_length", "sepal_width", "petal_length"],
      [
        ["5.1", "3.5", "1.4"],
        ["6.2", "2.9", "4.3"],
      ],
    ),
  });

  it("tells train from test by their columns", async () => {
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.trainFile).toBe("fit_me.csv");
    expect(context.testFile).toBe("score_me.csv");
    expect(inference(context, "train_file")?.evidence).toBe("it has every column of score_me.csv plus 'species'");
    expect(context.labelColumn).toBe("species");
    expect(context.idColumn).toBe("");
    expect(context.problemType).toBe(MULTICLASS);
    expect(context.labelValues).toEqual(species);
    expect(context.metric).toMatchObject({ name: "accuracy", greaterIsBetter: true });
    expect(context.output).toMatchObject({ fileName: "predictions.csv", columns: ["species"], idColumn: "" });
    expect(context.descriptionFile).toBe("");
    expect(context.tools.map((tool) => tool.name)).toEqual(["autogluon", "lightgbm", "logreg"]);
  });
});

describe("perceive: an id column without an id-like name", () => {
  it("takes a text column with a distinct value in every row, not a unique number", async () => {
    const rows = (n: number, offset: number) =>
      Array.from({ length: n }, (_, i) => [`s-${offset + i}`, offset + i, (i % 7) / 2, i % 2 === 0 ? "a" : "b"]);
    const dir = folder({
      "observations.csv": csv(["sample", "serial", "width", "kind"], rows(40, 0)),
      "unlabelled.csv": csv(
        ["sample", "serial", "width"],
        rows(10, 100).map((row) => row.slice(0, 3)),
      ),
    });
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.idColumn).toBe("sample");
    expect(inference(context, "id_column")?.evidence).toBe("column 'sample' holds a distinct text value in every row of unlabelled.csv");
    expect(context.output?.columns).toEqual(["sample", "kind"]);
  });
});

describe("perceive: Parquet tables with a per-class sample submission", () => {
  const dir = folder({
    "overview.md": "Classify each row into one of three grades. Metric: multi-class log loss.",
  });
  beforeAll(() => {
    execFileSync(PYTHON, [
      "-c",
      `
import sys, numpy as np, pandas as pd
rng = np.random.default_rng(0)
n = 300
train = pd.DataFrame({"row_id": np.arange(n), "x1": rng.normal(size=n), "x2": rng.integers(0, 100, n), "grade": rng.integers(0, 3, n)})
train.to_parquet(sys.argv[1] + "/train.parquet", index=False)
test = train.drop(columns=["grade"]).head(40).assign(row_id=lambda d: d.row_id + 1000)
test.to_parquet(sys.argv[1] + "/test.parquet", index=False, compression="zstd")
sub = pd.DataFrame({"row_id": test.row_id, "0": 1/3, "1": 1/3, "2": 1/3})
sub.to_csv(sys.argv[1] + "/example_submission.csv", index=False)
`,
      dir,
    ]);
  });

  it("reads Parquet and maps class columns to the whole-number label", async () => {
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.trainFile).toBe("train.parquet");
    expect(context.testFile).toBe("test.parquet");
    expect(context.sampleSubmissionFile).toBe("example_submission.csv");
    expect(context.labelColumn).toBe("grade");
    expect(inference(context, "label_column")?.evidence).toMatch(/one probability per class/);
    expect(context.idColumn).toBe("row_id");
    expect(context.problemType).toBe(MULTICLASS);
    expect(context.labelValues).toEqual(["0", "1", "2"]);
    expect(context.metric).toMatchObject({ name: "log_loss", greaterIsBetter: false });
    expect(context.output).toMatchObject({
      fileName: "submission.csv",
      columns: ["row_id", "0", "1", "2"],
      idColumn: "row_id",
      classProbabilities: true,
    });
    const train = context.files.find((file) => file.path === "train.parquet");
    expect(train).toMatchObject({ format: "parquet", rows: 300n });
    expect(column(context, "train.parquet", "x1")?.type).toBe(ColumnType.NUMERIC);
    expect(column(context, "test.parquet", "x2")?.type).toBe(ColumnType.INTEGER);
  });
});

describe("perceive: label from the description", () => {
  it("follows 'label column: X' over the columns test lacks, and records the leak", async () => {
    const rows = Array.from({ length: 30 }, (_, i) => [i, i * 2, i % 2 === 0 ? "a" : "b", i % 3]);
    const dir = folder({
      "train.csv": csv(["f1", "f2", "quality", "audit_flag"], rows),
      "test.csv": csv(["f1", "f2"], [[1, 2]]),
      "README.txt": "The label column: quality. Higher is better.",
    });
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.labelColumn).toBe("quality");
    expect(inference(context, "label_column")?.evidence).toBe('the description says "label column: quality"');
    expect(context.problemType).toBe(BINARY);
    expect(context.labelValues).toEqual(["a", "b"]);
  });

  it("takes the last column test lacks when none is named", async () => {
    const rows = Array.from({ length: 30 }, (_, i) => [i, i % 7, i % 11, i * 3]);
    const dir = folder({
      "train.csv": csv(["hour", "casual", "registered", "count"], rows),
      "test.csv": csv(["hour"], [[1]]),
    });
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.labelColumn).toBe("count");
    expect(inference(context, "train_only_columns")?.value).toBe("casual,registered,count");
    expect(context.problemType).toBe(REGRESSION);
  });

  it("uses a label-like name when train and test share every column, and a semicolon delimiter", async () => {
    const rows = Array.from({ length: 30 }, (_, i) => [i, i % 2 === 0 ? "True" : "False"]);
    const text = (records: (string | number)[][]) => ["x;target", ...records.map((r) => r.join(";"))].join("\n");
    const dir = folder({ "train.csv": text(rows), "holdout.csv": text(rows.slice(0, 5)) });
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.testFile).toBe("holdout.csv");
    expect(context.labelColumn).toBe("target");
    expect(context.labelValues).toEqual(["False", "True"]);
    expect(inference(context, "delimiter")?.value).toBe(";");
  });
});

describe("perceive: bad input", () => {
  it("reports a missing folder as not found", async () => {
    const missing = join(tmpdir(), "mlzero-perception-does-not-exist");
    const error = await perceiveError(missing);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.message).toBe(`input folder ${missing} does not exist`);
  });

  it("rejects a file given as the folder", async () => {
    const dir = folder({ "train.csv": "a,b\n1,2\n" });
    const error = await perceiveError(join(dir, "train.csv"));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toMatch(/is not a folder$/);
  });

  it("rejects a folder with only hidden files", async () => {
    const dir = folder({ ".DS_Store": "x", ".git/config": "y" });
    const error = await perceiveError(dir);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toBe(`input folder ${dir} is empty`);
  });

  it("rejects a folder with no data files", async () => {
    const dir = folder({ "README.md": "hello", "img/cat.jpg": Buffer.from([0xff, 0xd8, 0xff]) });
    const error = await perceiveError(dir);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toBe(
      "no data files found in the input folder: expected tables (CSV, TSV, JSON, JSON Lines, Parquet or Excel .xlsx), or images or text files in class folders (train/<class>/...) with a test/ folder",
    );
  });

  it("rejects binary content posing as CSV", async () => {
    const dir = folder({ "train.csv": Buffer.from([0x00, 0x01, 0x02, 0x03, 0xff]), "test.csv": "a\n1\n" });
    const error = await perceiveError(dir);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toBe("train.csv is not a text table (binary content)");
  });

  it("says how to name the test file when there is none", async () => {
    const dir = folder({
      "train.csv": csv(
        ["x", "label"],
        [
          [1, 0],
          [2, 1],
        ],
      ),
    });
    const error = await perceiveError(dir);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toBe(
      `no test file found in the input folder: name the file with the rows to predict "test.csv" (or put "test" in its name)`,
    );
  });

  it("says how to name the label when it cannot be inferred", async () => {
    const rows = [
      [1, 2, 3],
      [4, 5, 6],
    ];
    const dir = folder({ "train.csv": csv(["a", "b", "c"], rows), "test.csv": csv(["a", "b", "c"], rows) });
    const error = await perceiveError(dir);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toBe(
      'cannot tell which column to predict: name it "label" or "target", or say "label column: <name>" in a description file',
    );
  });

  it("rejects a label with a single value", async () => {
    const dir = folder({
      "train.csv": csv(
        ["x", "label"],
        [
          [1, "a"],
          [2, "a"],
        ],
      ),
      "test.csv": csv(["x"], [[3]]),
    });
    const error = await perceiveError(dir);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toBe("label column 'label' has a single value in train.csv: there is nothing to predict");
  });
});
