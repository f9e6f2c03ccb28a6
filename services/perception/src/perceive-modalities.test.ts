import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { InvalidInputError } from "@mlzero/errors";
import { FileRole, ImageLayout, Modality, ProblemType, ToolSchema, type PerceptualContext } from "@mlzero/proto";
import { afterAll, describe, expect, it } from "vitest";
import { perceive } from "./perceive.js";
import { jpegHeader, pngImage, xlsxWorkbook } from "./test-fixtures.js";

const { BINARY, MULTICLASS, REGRESSION } = ProblemType;
const ALL = [BINARY, MULTICLASS, REGRESSION];

/** A registry like memory's: one or more tools per modality. */
const TOOLS = [
  create(ToolSchema, { name: "autogluon", modalities: [Modality.TABULAR], problemTypes: ALL, priority: 90 }),
  create(ToolSchema, { name: "tabular-text", modalities: [Modality.MULTIMODAL], problemTypes: ALL, priority: 75 }),
  create(ToolSchema, { name: "text-tfidf", modalities: [Modality.TEXT, Modality.MULTIMODAL], problemTypes: ALL, priority: 70 }),
  create(ToolSchema, { name: "timeseries-gbm", modalities: [Modality.TIME_SERIES], problemTypes: [REGRESSION], priority: 70 }),
  create(ToolSchema, { name: "image-pixels", modalities: [Modality.IMAGE], problemTypes: [BINARY, MULTICLASS], priority: 30 }),
  create(ToolSchema, {
    name: "image-timm",
    modalities: [Modality.IMAGE],
    problemTypes: [BINARY, MULTICLASS],
    priority: 95,
    needsGpu: true,
  }),
];

const roots: string[] = [];
afterAll(() => roots.forEach((root) => rmSync(root, { recursive: true, force: true })));

function temporary(): string {
  const root = mkdtempSync(join(tmpdir(), "mlzero-modalities-"));
  roots.push(root);
  return root;
}

/** A data folder holding the given files (paths may have folders). */
function folder(files: Record<string, string | Buffer>): string {
  const root = temporary();
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

function csv(header: string[], rows: (string | number)[][]): string {
  return [header.join(","), ...rows.map((row) => row.join(","))].join("\n") + "\n";
}

function inferred(context: PerceptualContext, field: string): string | undefined {
  return context.inferences.find((entry) => entry.field === field)?.value;
}

function evidence(context: PerceptualContext, field: string): string | undefined {
  return context.inferences.find((entry) => entry.field === field)?.evidence;
}

function roles(context: PerceptualContext) {
  return Object.fromEntries(context.files.map((file) => [file.path, [FileRole[file.role], file.format]]));
}

async function perceiveError(inputDir: string, description?: string): Promise<Error> {
  const error = await perceive({ inputDir, tools: TOOLS, ...(description === undefined ? {} : { description }) }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as Error).message).not.toContain("\n");
  return error as Error;
}

const dark = (x: number, y: number) => (x + y) * 9;
const light = () => 220;

describe("perceive: images in class folders", () => {
  const dir = folder({
    "train/cat/1.png": pngImage(16, 16, 3, dark),
    "train/cat/2.png": pngImage(16, 16, 3, dark),
    "train/dog/1.jpg": jpegHeader(24, 20),
    "train/dog/2.png": pngImage(16, 12, 1, light),
    "train/dog/broken.png": "this is not a PNG file\n",
    "test/a.png": pngImage(16, 16, 4, dark),
    "test/b.png": pngImage(16, 16, 3, light),
    "test/thumbs.db": "not an image",
    "sample_submission.csv": csv(
      ["file", "animal"],
      [
        ["a.png", "cat"],
        ["b.png", "cat"],
      ],
    ),
  });

  it("takes the classes from the subfolders and the output from the sample submission", async () => {
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.modality).toBe(Modality.IMAGE);
    expect([context.trainFile, context.testFile, context.sampleSubmissionFile]).toEqual(["train", "test", "sample_submission.csv"]);
    expect([context.labelColumn, context.idColumn, context.problemType]).toEqual(["animal", "file", BINARY]);
    expect(context.labelValues).toEqual(["cat", "dog"]);
    expect(context.output).toMatchObject({ fileName: "submission.csv", columns: ["file", "animal"], idColumn: "file", positiveClass: "" });
    expect(evidence(context, "id_column")).toBe("column 'file' of sample_submission.csv holds the paths of the examples to predict");
    expect(context.tools.map((tool) => tool.name)).toEqual(["image-pixels"]);
    expect(evidence(context, "tools")).toBe("runs get no GPU (Budget.gpus is 0), so GPU-variant tools are left out");
  });

  it("ranks the GPU variant first when the runs get a GPU", async () => {
    const context = await perceive({ inputDir: dir, tools: TOOLS, gpus: 1 });
    expect(context.tools.map((tool) => tool.name)).toEqual(["image-timm", "image-pixels"]);
    expect(evidence(context, "tools")).toBeUndefined();
  });

  it("records what a sample of the images holds, and the files that are no images", async () => {
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.images).toMatchObject({
      layout: ImageLayout.FOLDERS,
      root: "train",
      testRoot: "test",
      trainImages: 5n,
      testImages: 2n,
      sampled: 6,
      formats: ["png", "jpeg"],
      minWidth: 16,
      maxWidth: 24,
      minHeight: 12,
      maxHeight: 20,
      channels: [1, 3, 4],
    });
    expect(inferred(context, "images.unreadable")).toBe("train/dog/broken.png");
    expect(evidence(context, "images.channels")).toBe("of 6 sampled images: colour 4, gray 1, colour+alpha 1");
    expect(roles(context)).toMatchObject({
      "train/cat/1.png": ["TRAIN", "png"],
      "train/dog/1.jpg": ["TRAIN", "jpeg"],
      "test/a.png": ["TEST", "png"],
      "test/thumbs.db": ["IGNORED", "other"],
      "sample_submission.csv": ["SAMPLE_SUBMISSION", "csv"],
    });
  });

  it("names the output image,label without a sample submission, and reads metric and file from the description", async () => {
    const plain = folder({
      "images/train/round/1.png": pngImage(8, 8),
      "images/train/square/1.png": pngImage(8, 8),
      "images/train/star/1.png": pngImage(8, 8),
      "images/test/x/1.png": pngImage(8, 8),
    });
    const context = await perceive({ inputDir: plain, tools: TOOLS, description: "Scored on balanced accuracy. Write results.csv." });
    expect([context.trainFile, context.testFile, context.problemType]).toEqual(["images/train", "images/test", MULTICLASS]);
    expect(context.output).toMatchObject({ fileName: "results.csv", columns: ["image", "label"], idColumn: "image" });
    expect(context.metric?.name).toBe("balanced_accuracy");
  });

  it("says what is missing: the images to predict, or readable images", async () => {
    const noTest = folder({ "train/a/1.png": pngImage(4, 4), "train/b/1.png": pngImage(4, 4) });
    expect((await perceiveError(noTest)).message).toBe(
      'found 2 training images in 2 class folders under train/ but no images to predict: put them in a folder named "test"',
    );
    const broken = folder({ "train/a/1.png": "text", "train/b/1.png": "text", "test/1.png": "text" });
    expect((await perceiveError(broken)).message).toBe(
      "none of the 3 image files sampled (e.g. train/a/1.png) is a PNG, JPEG, GIF, BMP, WebP, TIFF or PNM image",
    );
  });
});

describe("perceive: images listed in tables", () => {
  it("finds the path column and the folder the paths are relative to", async () => {
    const dir = folder({
      "train.csv": csv(
        ["path", "label"],
        [
          ["p1.png", "red"],
          ["p2.png", "blue"],
          ["p3.png", "red"],
          ["gone.png", "blue"],
        ],
      ),
      "test.csv": csv(
        ["id", "path"],
        [
          [1, "t1.png"],
          [2, "t2.png"],
        ],
      ),
      ...Object.fromEntries(["p1", "p2", "p3", "t1", "t2"].map((name) => [`pics/${name}.png`, pngImage(10, 10)])),
    });
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.modality).toBe(Modality.IMAGE);
    expect(context.images).toMatchObject({ layout: ImageLayout.TABLE, root: "pics", pathColumn: "path", trainImages: 3n, testImages: 2n });
    expect([context.labelColumn, context.idColumn, context.trainFile]).toEqual(["label", "id", "train.csv"]);
    expect(evidence(context, "images.root")).toBe("the listed paths are relative to pics/; 1 listed training images are missing");
    expect(roles(context)["pics/t1.png"]).toEqual(["TEST", "png"]);
  });

  it("follows the tables when they list images that also sit in class folders", async () => {
    const dir = folder({
      "train.csv": csv(
        ["file", "shape"],
        [
          ["train/a/1.png", "a"],
          ["train/b/2.png", "b"],
        ],
      ),
      "test.csv": csv(["id", "file"], [[7, "test/3.png"]]),
      "images/train/a/1.png": pngImage(6, 6),
      "images/train/b/2.png": pngImage(6, 6),
      "images/test/3.png": pngImage(6, 6),
    });
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.images).toMatchObject({ layout: ImageLayout.TABLE, root: "images", pathColumn: "file", testRoot: "" });
    expect([context.trainFile, context.testFile, context.labelColumn, context.idColumn]).toEqual(["train.csv", "test.csv", "shape", "id"]);
  });

  it("rejects an image task whose label is a number to regress", async () => {
    const dir = folder({
      "train.csv": csv(
        ["path", "weight"],
        Array.from({ length: 30 }, (_, i) => [`p${i}.png`, (i * 1.37).toFixed(2)]),
      ),
      "test.csv": csv(["path"], [["p0.png"]]),
      ...Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`p${i}.png`, pngImage(4, 4)])),
    });
    expect((await perceiveError(dir)).message).toBe(
      "label 'weight' holds numbers with many values, but image tasks are classification only: the image tools predict classes",
    );
  });
});

const WORDS = ["good", "bad", "fine", "late", "broken", "great", "slow", "nice", "cheap", "solid", "the", "it", "was", "and"];
const sentence = (i: number) => Array.from({ length: 8 }, (_, k) => WORDS[(i * 7 + k * 3) % WORDS.length]).join(" ") + ` #${i}`;

describe("perceive: free text", () => {
  it("tells a text task from its long, distinct, wordy column and never takes the text as the id", async () => {
    const dir = folder({
      "train.csv": csv(
        ["review", "stars"],
        Array.from({ length: 40 }, (_, i) => [sentence(i), i % 2 ? "high" : "low"]),
      ),
      "test.csv": csv(
        ["review"],
        Array.from({ length: 10 }, (_, i) => [sentence(100 + i)]),
      ),
    });
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.modality).toBe(Modality.TEXT);
    expect(context.textColumns).toEqual(["review"]);
    expect(context.idColumn).toBe("");
    expect(evidence(context, "text_column")).toMatch(/^values in train\.csv average \d+ characters and 9\.0 words, 100% distinct/);
    expect(context.tools.map((tool) => [tool.name, tool.reason])).toEqual([
      ["text-tfidf", "covers text binary (priority 70)"],
      ["autogluon", "covers tabular binary, a fallback for text data (priority 90)"],
    ]);
  });

  it("calls text with numbers and categories multimodal", async () => {
    const rows = Array.from({ length: 40 }, (_, i) => [i, sentence(i), ["a", "b"][i % 2]!, i * 1.5, i % 3 ? "yes" : "no"]);
    const dir = folder({
      "train.csv": csv(["id", "notes", "kind", "price", "sold"], rows),
      "test.csv": csv(
        ["id", "notes", "kind", "price"],
        rows.slice(0, 5).map((row) => row.slice(0, 4)),
      ),
    });
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.modality).toBe(Modality.MULTIMODAL);
    expect(context.textColumns).toEqual(["notes"]);
    expect(evidence(context, "modality")).toBe("free text ('notes') comes with 2 other columns ('kind', 'price')");
    expect(context.tools.map((tool) => tool.name)).toEqual(["tabular-text", "text-tfidf", "autogluon"]);
  });
});

describe("perceive: one text file per example in class folders", () => {
  const dir = folder({
    "README.md": "Sort the letters by department. Scored on accuracy.",
    "train/billing/1.txt": "Please refund the double charge on my card, invoice 12.",
    "train/billing/2.txt": "The invoice total is wrong, I paid twice",
    "train/support/about_login.txt": "I cannot log in since the update, the app crashes",
    "test/q1.txt": "\uFEFFMy card was charged twice, please refund",
    "test/more/q2.txt": "The app crashes when I log in",
  });

  it("gathers the documents into derived tables the programs read", async () => {
    const taskDir = temporary();
    const context = await perceive({ inputDir: dir, tools: TOOLS, taskDir });
    expect(context.modality).toBe(Modality.TEXT);
    expect([context.trainFile, context.testFile, context.descriptionFile]).toEqual(["train", "test", "README.md"]);
    expect([context.labelColumn, context.idColumn, context.metric?.name]).toEqual(["label", "file", "accuracy"]);
    expect([context.derivedTrainFile, context.derivedTestFile]).toEqual(["derived/train.csv", "derived/test.csv"]);
    expect(context.textColumns).toEqual(["text"]);
    expect(context.output?.columns).toEqual(["file", "label"]);
    expect(readFileSync(join(taskDir, "derived/train.csv"), "utf8")).toBe(
      "file,text,label\n" +
        'billing/1.txt,"Please refund the double charge on my card, invoice 12.",billing\n' +
        'billing/2.txt,"The invoice total is wrong, I paid twice",billing\n' +
        'support/about_login.txt,"I cannot log in since the update, the app crashes",support\n',
    );
    expect(readFileSync(join(taskDir, "derived/test.csv"), "utf8")).toBe(
      'file,text\nmore/q2.txt,The app crashes when I log in\nq1.txt,"My card was charged twice, please refund"\n',
    );
    expect(roles(context)).toMatchObject({
      "train/support/about_login.txt": ["TRAIN", "text"],
      "test/q1.txt": ["TEST", "text"],
      "README.md": ["DESCRIPTION", "text"],
    });
  });

  it("describes the tables without a task folder to write them to", async () => {
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.derivedTrainFile).toBe("");
    expect(evidence(context, "derived_train_file")).toBe(
      "no task folder to gather the documents into tables; programs cannot read them as they are",
    );
  });
});

/** Daily rows of three stores from 2024-01-01, promo and visitors, sales rising in weekly cycles. */
function storeRows(days: number, from = 0): (string | number)[][] {
  const rows: (string | number)[][] = [];
  for (const store of ["001", "002", "003"]) {
    for (let day = from; day < from + days; day++) {
      const date = new Date(Date.UTC(2024, 0, 1 + day)).toISOString().slice(0, 10);
      rows.push([store, date, day % 5 === 0 ? 1 : 0, 100 + day, (10 + (day % 7) * 3.5 + Number(store)).toFixed(2)]);
    }
  }
  return rows;
}

describe("perceive: time series", () => {
  it("finds item, time stamp, frequency, horizon, known covariates and static features", async () => {
    const dir = folder({
      "train.csv": csv(["store", "date", "promo", "visitors", "sales"], storeRows(60)),
      "test.csv": csv(
        ["row_id", "store", "date", "promo"],
        storeRows(14, 60).map((row, i) => [i, row[0]!, row[1]!, row[2]!]),
      ),
      "stores.csv": csv(
        ["store", "size"],
        [
          ["001", 10],
          ["002", 20],
          ["003", 30],
        ],
      ),
    });
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.modality).toBe(Modality.TIME_SERIES);
    expect([context.labelColumn, context.idColumn, context.problemType]).toEqual(["sales", "row_id", REGRESSION]);
    expect(context.timeSeries).toMatchObject({
      itemColumn: "store",
      timestampColumn: "date",
      frequency: "D",
      horizon: 14,
      knownCovariates: ["promo"],
      staticFeaturesFile: "stores.csv",
      trainItems: 3n,
      forecastItems: 3n,
    });
    expect(context.metric).toMatchObject({ name: "mase", greaterIsBetter: false });
    expect(context.output?.columns).toEqual(["row_id", "store", "date", "sales"]);
    expect(inferred(context, "time_series.past_only_columns")).toBe("visitors");
    expect(context.tools.map((tool) => tool.name)).toEqual(["timeseries-gbm"]);
    expect(context.joins).toEqual([]);
  });

  it("reads a single monthly series and the metric the description names", async () => {
    const month = (m: number) => new Date(Date.UTC(2020, m, 1)).toISOString().slice(0, 10);
    const dir = folder({
      "history.csv": csv(
        ["month", "demand"],
        Array.from({ length: 36 }, (_, m) => [month(m), 100 + m * 2 + (m % 12)]),
      ),
      "future.csv": csv(
        ["month"],
        Array.from({ length: 6 }, (_, m) => [month(36 + m)]),
      ),
    });
    const context = await perceive({ inputDir: dir, tools: TOOLS, description: "Forecast the next six months; we score sMAPE." });
    expect(context.timeSeries).toMatchObject({ itemColumn: "", timestampColumn: "month", frequency: "MS", horizon: 6 });
    expect(context.metric?.name).toBe("smape");
    expect(context.output?.columns).toEqual(["month", "demand"]);
  });

  it("forecasts the rows a sample submission lists when there is no test table", async () => {
    const dir = folder({
      "train.csv": csv(
        ["store", "date", "sales"],
        storeRows(30).map((row) => [row[0]!, row[1]!, row[4]!]),
      ),
      "sample_submission.csv": csv(
        ["store", "date", "sales"],
        storeRows(7, 30).map((row) => [row[0]!, row[1]!, 0]),
      ),
    });
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.modality).toBe(Modality.TIME_SERIES);
    expect([context.testFile, context.sampleSubmissionFile, context.labelColumn]).toEqual([
      "sample_submission.csv",
      "sample_submission.csv",
      "sales",
    ]);
    expect(context.timeSeries).toMatchObject({ itemColumn: "store", horizon: 7, knownCovariates: [] });
    expect(context.output).toMatchObject({ fileName: "submission.csv", columns: ["store", "date", "sales"] });
    expect(roles(context)["sample_submission.csv"]).toEqual(["SAMPLE_SUBMISSION", "csv"]);
  });

  it("keeps a table with dates tabular when the rows to predict are not the future", async () => {
    const rows = storeRows(30);
    const dir = folder({
      "train.csv": csv(
        ["store", "date", "promo", "visitors", "sales"],
        rows.filter((_, i) => i % 4 !== 0),
      ),
      "test.csv": csv(
        ["store", "date", "promo", "visitors"],
        rows.filter((_, i) => i % 4 === 0).map((row) => row.slice(0, 4)),
      ),
    });
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.modality).toBe(Modality.TABULAR);
    expect(context.timeSeries).toBeUndefined();
  });

  it("says what is missing when the description asks for a forecast", async () => {
    const dir = folder({
      "train.csv": csv(
        ["store", "day_number", "sales"],
        [
          ["a", 1, 2.5],
          ["a", 2, 3.5],
          ["b", 1, 1.5],
        ],
      ),
      "test.csv": csv(["store", "day_number"], [["a", 3]]),
    });
    expect((await perceiveError(dir, "A time series: predict sales per store.")).message).toBe(
      'the description speaks of a forecast ("time series") but no column of both train.csv and test.csv holds time stamps (e.g. 2024-03-01 or 2024-03-01 12:00)',
    );
  });
});

describe("perceive: Excel workbooks", () => {
  const rows = Array.from({ length: 30 }, (_, i) => [`K${i}`, i * 3, new Date(Date.UTC(2024, 0, 1 + i)), i % 3 === 0 ? "yes" : "no"]);
  const dir = folder({
    "train.xlsx": xlsxWorkbook([
      { name: "Sheet1", rows: [["key", "amount", "opened", "churn"], ...rows] },
      { name: "Notes", rows: [["x"]] },
    ]),
    "test.xlsx": xlsxWorkbook([{ name: "Sheet1", rows: [["key", "amount", "opened"], ...rows.slice(0, 5).map((row) => row.slice(0, 3))] }]),
  });

  it("reads the first sheet and writes it as CSV for the programs", async () => {
    const taskDir = temporary();
    const context = await perceive({ inputDir: dir, tools: TOOLS, taskDir });
    expect(context.modality).toBe(Modality.TABULAR);
    expect([context.trainFile, context.labelColumn, context.idColumn]).toEqual(["train.xlsx", "churn", "key"]);
    expect(roles(context)).toEqual({ "test.xlsx": ["TEST", "xlsx"], "train.xlsx": ["TRAIN", "xlsx"] });
    expect(context.files[1]?.columns.map((column) => column.name)).toEqual(["key", "amount", "opened", "churn"]);
    expect(evidence(context, "excel_sheet")).toBe("the first of its 2 sheets (Sheet1, Notes); the others are not read");
    expect([context.derivedTrainFile, context.derivedTestFile]).toEqual(["derived/train.csv", "derived/test.csv"]);
    expect(readFileSync(join(taskDir, "derived/test.csv"), "utf8").split("\n").slice(0, 2)).toEqual([
      "key,amount,opened",
      "K0,0,2024-01-01",
    ]);
  });

  it("records, without a task folder, that the programs would need the CSV", async () => {
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect(context.derivedTrainFile).toBe("");
    expect(evidence(context, "derived_train_file")).toBe("not written (no task folder): sheet 'Sheet1' of train.xlsx as CSV");
  });
});

describe("perceive: a main table and side tables", () => {
  const customers = Array.from({ length: 6 }, (_, i) => [`C${i}`, 20 + i * 7, ["gold", "basic"][i % 2]!]);
  const orders = Array.from({ length: 30 }, (_, i) => [1000 + i, `C${i % 6}`, (i * 2.5).toFixed(1), i % 2 ? "yes" : "no"]);

  it("joins a table keyed by a shared column with one row per key into derived tables", async () => {
    const dir = folder({
      "train.csv": csv(["order_id", "customer_id", "amount", "returned"], orders),
      "test.csv": csv(
        ["order_id", "customer_id", "amount"],
        orders.slice(0, 4).map((row) => row.slice(0, 3)),
      ),
      "customers.csv": csv(["customer_id", "age", "tier"], customers),
      "events.csv": csv(
        ["customer_id", "event"],
        [
          ["C1", "call"],
          ["C1", "mail"],
        ],
      ),
    });
    const taskDir = temporary();
    const context = await perceive({ inputDir: dir, tools: TOOLS, taskDir });
    expect(context.joins.map((join) => [join.file, join.key, join.columns])).toEqual([["customers.csv", "customer_id", ["age", "tier"]]]);
    expect(inferred(context, "join")).toBe("customers.csv on customer_id");
    expect(context.derivedTrainFile).toBe("derived/train.csv");
    expect(readFileSync(join(taskDir, "derived/train.csv"), "utf8").split("\n").slice(0, 2)).toEqual([
      "order_id,customer_id,amount,returned,age,tier",
      "1000,C0,0.0,no,20,gold",
    ]);
    expect(readFileSync(join(taskDir, "derived/test.csv"), "utf8").split("\n")[1]).toBe("1000,C0,0.0,20,gold");
    expect(roles(context)).toMatchObject({ "customers.csv": ["OTHER_DATA", "csv"], "events.csv": ["OTHER_DATA", "csv"] });
  });

  it("joins nothing when the shared key repeats in the side table", async () => {
    const dir = folder({
      "train.csv": csv(["order_id", "customer_id", "amount", "returned"], orders),
      "test.csv": csv(
        ["order_id", "customer_id", "amount"],
        orders.slice(0, 4).map((row) => row.slice(0, 3)),
      ),
      "events.csv": csv(
        ["customer_id", "event"],
        [
          ["C1", "call"],
          ["C1", "mail"],
        ],
      ),
    });
    const context = await perceive({ inputDir: dir, tools: TOOLS, taskDir: temporary() });
    expect(context.joins).toEqual([]);
    expect(context.derivedTrainFile).toBe("");
  });
});

describe("perceive: one labelled and one unlabelled file, no description", () => {
  it("takes the labelled file for training and the other for the rows to predict", async () => {
    const rows = Array.from({ length: 20 }, (_, i) => [`u${i}`, i * 2, i % 2 ? "a" : "b"]);
    const dir = folder({
      "labelled.csv": csv(["user", "score", "group"], rows),
      "unlabelled.csv": csv(
        ["user", "score"],
        rows.slice(0, 5).map((row) => row.slice(0, 2)),
      ),
    });
    const context = await perceive({ inputDir: dir, tools: TOOLS });
    expect([context.trainFile, context.testFile, context.labelColumn, context.idColumn]).toEqual([
      "labelled.csv",
      "unlabelled.csv",
      "group",
      "user",
    ]);
    expect(evidence(context, "train_file")).toBe("the file name says it holds training data");
    expect(context.modality).toBe(Modality.TABULAR);
  });
});
