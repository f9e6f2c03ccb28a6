import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RESULT_MARKER, type ProgramResult } from "@mlzero/program";
import { Modality, ProblemType } from "@mlzero/proto";
import {
  dailySalesTask,
  monthlyDemandTask,
  movingShapesTask,
  shapeFoldersTask,
  shapeTableTask,
  writeImageTaskInput,
  type ImageTask,
  type SeriesTask,
} from "./synthetic-series-and-images.js";
import { writeTaskInput } from "./synthetic-tasks.js";
import {
  corpus,
  expectOnlyPredictions,
  expectResult,
  hasPython,
  itFindsTheFix,
  predictedLabels,
  printedScore,
  python,
  readPredictions,
  runtimePins,
  runTemplate,
} from "./template-runner.js";

const timings: string[] = [];

const meanAbsoluteError = (truth: number[], predicted: number[]): number =>
  truth.reduce((sum, value, index) => sum + Math.abs(value - predicted[index]!), 0) / truth.length;

describe("registry entries of the forecasting and image tools", () => {
  const tool = (name: string) => corpus.tools.find((candidate) => candidate.name === name)!;

  it("registers timeseries-gbm for time series and image-pixels for images", () => {
    expect(tool("timeseries-gbm")).toMatchObject({
      modalities: [Modality.TIME_SERIES],
      problemTypes: [ProblemType.REGRESSION],
      pythonModule: "lightgbm",
    });
    expect(tool("image-pixels")).toMatchObject({
      modalities: [Modality.IMAGE],
      problemTypes: [ProblemType.BINARY, ProblemType.MULTICLASS],
      pythonModule: "sklearn",
    });
    // The CNN outranks the pixel baseline; without torch the analyzer falls back to image-pixels.
    expect(tool("image-cnn")).toMatchObject({
      modalities: [Modality.IMAGE],
      problemTypes: [ProblemType.BINARY, ProblemType.MULTICLASS],
      pythonModule: "torch",
      priority: 50,
    });
    expect(tool("image-cnn").summary).toMatch(/GPU/);
    expect(tool("image-pixels").priority).toBeLessThan(tool("image-cnn").priority);
    expect(tool("image-pixels").doesNotCover).toMatch(/move/);
    expect(tool("image-pixels").doesNotCover).toMatch(/CNN/);
  });

  it("pins the runtime's versions exactly", async () => {
    const pins = await runtimePins();
    for (const name of ["timeseries-gbm", "image-pixels", "image-cnn"]) {
      for (const requirement of tool(name).requirements) {
        const [library, version] = requirement.split("==");
        expect(version, requirement).toBeTruthy();
        // Pillow reaches the runtime through matplotlib, not runtime/requirements.txt.
        if (library !== "pillow") expect(pins.get(library!), requirement).toBe(version);
      }
    }
  });

  it("has tutorials whose sections quote the errors they fix", () => {
    const sections = (name: string) => corpus.chunks.filter((chunk) => chunk.tool === name && chunk.source.startsWith("tutorials/"));
    const titles = (name: string) => sections(name).map((chunk) => chunk.title);
    for (const name of ["timeseries-gbm", "image-pixels", "image-cnn"]) {
      const sources = new Set(sections(name).map((chunk) => chunk.source));
      expect(sources).toContain(`tutorials/${name}/basics.md`);
      expect(sources).toContain(`tutorials/${name}/common-errors.md`);
    }
    expect(titles("timeseries-gbm").join("\n")).toMatch(/Need at least 3 dates to infer frequency/);
    expect(titles("timeseries-gbm").join("\n")).toMatch(/Input contains NaN/);
    expect(titles("image-pixels").join("\n")).toMatch(/cannot identify image file/);
    expect(titles("image-pixels").join("\n")).toMatch(/cannot reshape array of size/);
    expect(titles("image-cnn").join("\n")).toMatch(/mat1 and mat2 shapes cannot be multiplied/);
    expect(titles("image-cnn").join("\n")).toMatch(/CUDA out of memory/);
  });
});

describe("retrieving the fix for a forecasting or image error message", () => {
  itFindsTheFix([
    ["ValueError: Need at least 3 dates to infer frequency", /Need at least 3 dates to infer frequency/],
    ["pd.infer_freq returned None, cannot infer the frequency of the time series", /infer_freq returns None/],
    ["ValueError: cannot reindex on an axis with duplicate labels", /cannot reindex on an axis with duplicate labels/],
    ["TypeError: Cannot compare tz-naive and tz-aware timestamps", /tz-naive and tz-aware/],
    ['ValueError: time data "13/01/2023" doesn\'t match format "%m/%d/%Y", at position 1.', /doesn't match format/],
    ["ValueError: Input contains NaN.", /Time series.*Input contains NaN/],
    ["PIL.UnidentifiedImageError: cannot identify image file 'train/cat/001.jpg'", /cannot identify image file/],
    ["ValueError: cannot reshape array of size 4096 into shape (3072,)", /cannot reshape array of size/],
    ["OSError: image file is truncated (144 bytes not processed)", /image file is truncated/],
    [
      "ValueError: setting an array element with a sequence. The requested array has an inhomogeneous shape after 1 dimensions.",
      /inhomogeneous shape/,
    ],
    ["RuntimeError: mat1 and mat2 shapes cannot be multiplied (32x4608 and 2048x128)", /mat1 and mat2 shapes cannot be multiplied/],
    ["RuntimeError: Input type (torch.FloatTensor) and weight type (torch.cuda.FloatTensor) should be the same", /Input type/],
    ["ValueError: Expected input batch_size (64) to match target batch_size (16).", /Expected input batch_size/],
  ]);
});

describe.skipIf(!hasPython)("forecasting and image templates", () => {
  let root: string;
  const taskDir = (task: { name: string }): string => path.join(root, task.name);
  const series = { daily: dailySalesTask(), monthly: monthlyDemandTask() };
  const images = { folders: shapeFoldersTask(), table: shapeTableTask(), moving: movingShapesTask() };

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), "mlzero-series-images-"));
    for (const task of Object.values(series)) await writeTaskInput(taskDir(task), task);
    for (const task of Object.values(images)) await writeImageTaskInput(taskDir(task), task, python);
  }, 60_000);

  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
    if (timings.length > 0) console.info(`template runs:\n  ${timings.join("\n  ")}`);
  });

  /** Runs the forecaster and checks it against the seasonal-naive forecast, on validation and on the true future. */
  async function expectForecast(task: SeriesTask): Promise<void> {
    const { config } = task;
    const result = await runTemplate(taskDir(task), "timeseries-gbm", config);
    const reported = expectResult(result, config);
    timings.push(
      `timeseries-gbm ${task.name}: ${result.seconds.toFixed(1)} s, ${config.metric} ${reported.score.toFixed(4)} (${reported.model})`,
    );
    expect(result.seconds).toBeLessThan(60);

    const naive = printedScore(result.stdout, "SeasonalNaive", config.metric);
    const model = printedScore(result.stdout, "LGBMRegressor", config.metric);
    expect(model, `LightGBM ${model} vs seasonal naive ${naive}`).toBeLessThanOrEqual(naive);
    expect(reported.score).toBeCloseTo(Math.min(model, naive), 3);
    expect(reported.model).toBe("LGBMRegressor");

    const rows = await readPredictions(result, config);
    const ts = config.timeseries!;
    const key = (item: string, timestamp: string) => `${item}|${timestamp}`;
    const written = new Map(rows.map((row) => [key(row[ts.item_column!]!, row[ts.timestamp_column]!), row]));
    expect(rows).toHaveLength(task.future.length);
    expect(written.size).toBe(task.future.length);
    if (config.id_column) expect(rows.map((row) => row[config.id_column!])).toEqual(task.future.map((value) => value.id));
    const predicted = task.future.map((value) => {
      const row = written.get(key(value.item, value.timestamp));
      expect(row, `no forecast for ${key(value.item, value.timestamp)}`).toBeDefined();
      return Number(row![config.label_column]);
    });
    expect(predicted.every(Number.isFinite)).toBe(true);
    // The forecasts must beat the seasonal-naive forecast on the true future too.
    const truth = task.future.map((value) => value.truth);
    const modelError = meanAbsoluteError(truth, predicted);
    const naiveError = meanAbsoluteError(
      truth,
      task.future.map((value) => value.seasonalNaive),
    );
    expect(modelError, `MAE ${modelError} vs seasonal naive ${naiveError}`).toBeLessThan(naiveError);
    await expectOnlyPredictions(result, config);
  }

  it("timeseries-gbm forecasts daily sales with a promo plan, static features and a test file (mase)", async () => {
    await expectForecast(series.daily);
  }, 150_000);

  it("timeseries-gbm infers a monthly frequency, fills a gap and makes the future rows itself (smape)", async () => {
    await expectForecast(series.monthly);
  }, 150_000);

  it("timeseries-gbm fails with a clear message when the time stamps are off the given frequency's grid", async () => {
    const task = series.daily;
    const config = { ...task.config, timeseries: { ...task.config.timeseries!, frequency: "W-MON" } };
    const result = await runTemplate(taskDir(task), "timeseries-gbm", config);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/do not fall on the W-MON grid/);
    expect(result.stdout).not.toContain(RESULT_MARKER);
  }, 150_000);

  /** Runs an image template and checks the predictions on the test images against the truth; returns the test accuracy. */
  async function expectImages(
    task: ImageTask,
    passes: (score: number) => boolean,
    tool = "image-pixels",
    minAccuracy = 0.7,
  ): Promise<{ reported: ProgramResult; accuracy: number }> {
    const { config } = task;
    const result = await runTemplate(taskDir(task), tool, config);
    const reported = expectResult(result, config);
    timings.push(`${tool} ${task.name}: ${result.seconds.toFixed(1)} s, ${config.metric} ${reported.score.toFixed(4)} (${reported.model})`);
    expect(result.seconds).toBeLessThan(60);
    expect(passes(reported.score), `${config.metric} = ${reported.score}`).toBe(true);

    const rows = await readPredictions(result, config);
    expect(rows.map((row) => row[config.id_column!])).toEqual(task.testIds);
    const predicted = predictedLabels(rows, config);
    expect(new Set(predicted)).toEqual(new Set(config.label_values));
    // Chance is 1/3 with three balanced classes.
    const accuracy = predicted.filter((label, index) => label === task.testTruth[index]).length / predicted.length;
    timings.push(`${tool} ${task.name}: test accuracy ${accuracy.toFixed(3)}`);
    expect(accuracy).toBeGreaterThan(minAccuracy);
    await expectOnlyPredictions(result, config);
    return { reported, accuracy };
  }

  it("image-pixels classifies shapes in class folders of mixed modes and sizes, skipping a broken file (accuracy)", async () => {
    await expectImages(images.folders, (score) => score > 0.7);
  }, 150_000);

  it("image-pixels classifies grayscale shapes listed in a CSV, with class probabilities (log_loss)", async () => {
    // log_loss of the class priors is ln 3 = 1.10.
    await expectImages(images.table, (score) => score < 0.6);
  }, 150_000);

  it("image-cnn classifies shapes in class folders of mixed modes and sizes, skipping a broken file (accuracy)", async () => {
    await expectImages(images.folders, (score) => score > 0.7, "image-cnn");
  }, 150_000);

  it("image-cnn classifies grayscale shapes listed in a CSV, with class probabilities (log_loss)", async () => {
    await expectImages(images.table, (score) => score < 0.6, "image-cnn");
  }, 150_000);

  it("image-cnn finds small shapes anywhere in the frame, beside image-pixels on the same task (accuracy)", async () => {
    // Chance is 1/3: the CNN must clearly beat it, on validation and on the test images.
    const cnn = await expectImages(images.moving, (score) => score > 0.75, "image-cnn", 0.75);
    const pixels = await expectImages(images.moving, () => true, "image-pixels", 0);
    console.info(
      `moving shapes: image-cnn validation accuracy ${cnn.reported.score.toFixed(3)}, test ${cnn.accuracy.toFixed(3)}; ` +
        `image-pixels validation ${pixels.reported.score.toFixed(3)}, test ${pixels.accuracy.toFixed(3)}`,
    );
  }, 300_000);
});
