import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { TaskService, TaskState, type Task } from "@mlzero/proto";
import { createClient, type RpcClient } from "@mlzero/rpc";
import { readTable, type Table } from "@mlzero/tables";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSystem } from "../support/embedded.js";
import {
  generateListingsTask,
  generateLoansWorkbookTask,
  generateMessageFoldersTask,
  generateOrdersTask,
  generateReviewsTask,
  generateShapeImagesTask,
  generateStoreSalesTask,
  type ModalityTask,
} from "../support/generate-modality-tasks.js";
import { readReport, type Report } from "../support/read-predictions.js";
import { accuracy, rocAuc } from "../support/scoring.js";

// One small task per modality, through all six services and a real Python
// program each; a run takes 5-30 s alone, the timeout absorbs shared cores.
const RUN_TIMEOUT_MS = 180_000;

describe("end to end, one generated task per modality", () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let tasks: RpcClient<typeof TaskService>;
  let root: string;
  beforeAll(async () => {
    system = await startTestSystem();
    tasks = createClient(TaskService, system.addresses.gateway!);
    root = await mkdtemp(path.join(os.tmpdir(), "mlzero-modalities-"));
  });
  afterAll(async () => {
    tasks?.close();
    await system?.stop();
  });

  /** Runs a task to the end; returns the final task, its report, and its predictions read back. */
  async function run(task: ModalityTask, name: string) {
    const started = Date.now();
    const { task: submitted } = await tasks.submit({ spec: { inputUri: task.inputDir } });
    let final: Task | undefined;
    for await (const update of tasks.watch({ taskId: submitted!.taskId })) final = update.task;
    const report = await readReport(final!.outputDir);
    const history = report.history
      .map((step) => `${step.iteration} ${step.tool} ${step.verdict} ${step.failure}: ${step.analysis}`)
      .join("\n");
    expect(final?.state, `${final?.message}\n${history}`).toBe(TaskState.SUCCEEDED);
    const predictions = await readTable(path.join(final!.outputDir, final!.predictionsFile), { format: "csv" });
    console.info(`${name}: ${((Date.now() - started) / 1000).toFixed(1)} s, tool ${report.tool}, ${report.iterations} iteration(s)`);
    return { final: final!, report, predictions };
  }

  /** The value perception inferred for a field, from the report. */
  function inferred(report: Report, field: string): string | undefined {
    const perception = (report as unknown as { perception?: { inferences: { field: string; value: string }[] } }).perception;
    return perception?.inferences.find((entry) => entry.field === field)?.value;
  }

  /** Predictions by id, in the answers' order. */
  function predictedFor(predictions: Table, task: ModalityTask): string[] {
    const id = predictions.columns.indexOf(task.idColumn);
    const label = predictions.columns.indexOf(task.labelColumn);
    const byId = new Map(predictions.rows.map((row) => [String(row[id]), String(row[label])]));
    expect(new Set(byId.keys())).toEqual(new Set(task.answers.keys()));
    return [...task.answers.keys()].map((key) => byId.get(key)!);
  }

  /** Share of the most common answer: what always predicting it scores. */
  function majorityShare(task: ModalityTask): number {
    const counts = new Map<string, number>();
    for (const answer of task.answers.values()) counts.set(String(answer), (counts.get(String(answer)) ?? 0) + 1);
    return Math.max(...counts.values()) / task.answers.size;
  }

  it(
    "images in class folders: one prediction per test image, named by its path",
    async () => {
      const task = await generateShapeImagesTask(root);
      const { report, predictions } = await run(task, "images");
      expect(inferred(report, "modality")).toBe("image");
      expect(inferred(report, "images.layout")).toBe("folders");
      expect(report.tool).toBe("image-cnn");
      expect(predictions.columns).toEqual(["image", "label"]);
      expect(predictions.totalRows).toBe(task.answers.size);
      const score = accuracy([...task.answers.values()].map(String), predictedFor(predictions, task));
      console.info(`images: accuracy ${score.toFixed(3)} (majority ${majorityShare(task).toFixed(3)})`);
      expect(score).toBeGreaterThan(majorityShare(task) + 0.3);
    },
    RUN_TIMEOUT_MS,
  );

  it(
    "free text: a review column and its sentiment, scored on AUC",
    async () => {
      const task = await generateReviewsTask(root);
      const { report, predictions } = await run(task, "text");
      expect(inferred(report, "modality")).toBe("text");
      expect(inferred(report, "text_column")).toBe("review");
      expect(report.tool).toBe("text-tfidf");
      expect(predictions.columns).toEqual(["review_id", "sentiment"]);
      const truth = [...task.answers.values()].map((answer) => (answer === "positive" ? 1 : 0));
      const score = rocAuc(truth, predictedFor(predictions, task).map(Number));
      console.info(`text: AUC ${score.toFixed(3)} (constant 0.5)`);
      expect(score).toBeGreaterThan(0.9);
    },
    RUN_TIMEOUT_MS,
  );

  it(
    "one text file per example in class folders: gathered into tables for the program",
    async () => {
      const task = await generateMessageFoldersTask(root);
      const { report, predictions } = await run(task, "text files");
      expect(inferred(report, "modality")).toBe("text");
      expect(inferred(report, "derived_train_file")).toBe("derived/train.csv");
      expect(report.tool).toBe("text-tfidf");
      expect(predictions.columns).toEqual(["file", "label"]);
      const score = accuracy([...task.answers.values()].map(String), predictedFor(predictions, task));
      console.info(`text files: accuracy ${score.toFixed(3)} (majority ${majorityShare(task).toFixed(3)})`);
      expect(score).toBeGreaterThan(majorityShare(task) + 0.3);
    },
    RUN_TIMEOUT_MS,
  );

  it(
    "text with table columns: free text, a category and numbers",
    async () => {
      const task = await generateListingsTask(root);
      const { report, predictions } = await run(task, "multimodal");
      expect(inferred(report, "modality")).toBe("multimodal");
      expect(report.tool).toBe("tabular-text");
      expect(report.metric).toBe("accuracy");
      expect(predictions.columns).toEqual(["listing_id", "fast_sale"]);
      const score = accuracy([...task.answers.values()].map(String), predictedFor(predictions, task));
      console.info(`multimodal: accuracy ${score.toFixed(3)} (majority ${majorityShare(task).toFixed(3)})`);
      expect(score).toBeGreaterThan(majorityShare(task) + 0.2);
    },
    RUN_TIMEOUT_MS,
  );

  it(
    "a forecast in long format: one row per store and future day, beating each store's mean",
    async () => {
      const task = await generateStoreSalesTask(root);
      const { report, predictions } = await run(task, "time series");
      expect(inferred(report, "modality")).toBe("time_series");
      expect(inferred(report, "time_series.item_column")).toBe("store");
      expect(inferred(report, "time_series.frequency")).toBe("D");
      expect(inferred(report, "time_series.horizon")).toBe("14");
      expect(inferred(report, "time_series.known_covariates")).toBe("promo");
      expect(inferred(report, "time_series.static_features_file")).toBe("stores.csv");
      expect(report.tool).toBe("timeseries-gbm");
      expect(report.metric).toBe("mase");
      expect(predictions.columns).toEqual(["id", "store", "date", "sales"]);
      expect(predictions.totalRows).toBe(task.truth.size);
      const [store, date, sales] = ["store", "date", "sales"].map((column) => predictions.columns.indexOf(column));
      const errors = predictions.rows.map((row) => {
        const key = `${String(row[store!])}|${String(row[date!])}`;
        const truth = task.truth.get(key)!;
        return { model: Math.abs(Number(row[sales!]) - truth), mean: Math.abs(task.itemMeans.get(String(row[store!]))! - truth) };
      });
      const mae = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
      const [model, mean] = [mae(errors.map((error) => error.model)), mae(errors.map((error) => error.mean))];
      console.info(`time series: MAE ${model.toFixed(2)} (each store's mean ${mean.toFixed(2)})`);
      expect(model).toBeLessThan(0.5 * mean);
    },
    RUN_TIMEOUT_MS,
  );

  it(
    "Excel workbooks: read as tables, given to the program as CSV",
    async () => {
      const task = await generateLoansWorkbookTask(root);
      const { report, predictions } = await run(task, "excel");
      expect(inferred(report, "modality")).toBe("tabular");
      expect(inferred(report, "excel_sheet")).toBe("train.xlsx: applications");
      expect(inferred(report, "derived_train_file")).toBe("derived/train.csv");
      expect(predictions.columns).toEqual(["application_id", "decision"]);
      // Scored on AUC: the decision column holds the probability of the class perception chose.
      const positive = inferred(report, "output.positive_class");
      expect(positive).toBe("declined");
      const truth = [...task.answers.values()].map((answer) => (answer === positive ? 1 : 0));
      const predicted = predictedFor(predictions, task).map(Number);
      const score = rocAuc(truth, predicted);
      console.info(`excel: AUC ${score.toFixed(3)} (constant 0.5), tool ${report.tool}`);
      expect(score).toBeGreaterThan(0.85);
    },
    RUN_TIMEOUT_MS,
  );

  it(
    "a main table and a side table: joined on their shared key before training",
    async () => {
      const task = await generateOrdersTask(root);
      const { report, predictions } = await run(task, "joined tables");
      expect(inferred(report, "join")).toBe("customers.csv on customer_id");
      expect(inferred(report, "derived_train_file")).toBe("derived/train.csv");
      expect(predictions.columns).toEqual(["order_id", "returned"]);
      const score = accuracy([...task.answers.values()].map(String), predictedFor(predictions, task));
      console.info(`joined tables: accuracy ${score.toFixed(3)} (majority ${majorityShare(task).toFixed(3)}), tool ${report.tool}`);
      expect(score).toBeGreaterThan(majorityShare(task) + 0.2);
    },
    RUN_TIMEOUT_MS,
  );
});
