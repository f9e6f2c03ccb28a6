import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseResultLine, RESULT_MARKER, type ProgramConfig } from "@mlzero/program";
import {
  binaryTask,
  multiclassTask,
  multimodalBinaryTask,
  multimodalMulticlassTask,
  multimodalRegressionTask,
  regressionTask,
  textBinaryTask,
  textMulticlassTask,
  textRegressionTask,
  writeTaskInput,
  type SyntheticTask,
} from "./synthetic-tasks.js";
import {
  expectOnlyPredictions,
  expectResult,
  hasPython,
  predictedLabels,
  python,
  readPredictions,
  rocAuc,
  rSquared,
  run,
  runTemplate,
  type ProgramRun,
} from "./template-runner.js";

function summary(result: ProgramRun): string {
  const reported = parseResultLine(result.stdout);
  return reported ? `${reported.metric} ${reported.score.toFixed(3)} (${reported.model})` : `exit ${result.exitCode}`;
}

function agreement(truth: string[], predicted: (string | undefined)[]): number {
  return truth.filter((value, index) => value === predicted[index]).length / truth.length;
}

/** Asserts the result line, the score floor and the predictions file of a successful run. */
async function expectValidRun(
  result: ProgramRun,
  task: SyntheticTask,
  config: ProgramConfig,
  passes: (score: number) => boolean,
): Promise<void> {
  const reported = expectResult(result, config);
  expect(passes(reported.score), `${config.metric} = ${reported.score}`).toBe(true);

  const rows = await readPredictions(result, config);
  expect(rows).toHaveLength(task.testRows);
  if (config.id_column) expect(rows.map((row) => row[config.id_column!])).toEqual(task.testIds);
  // The predictions must also be right on the test rows, not just well formed.
  const truth = task.testTruth;
  if (config.positive_class && !config.class_probabilities) {
    const probabilities = rows.map((row) => Number(row[config.label_column]));
    expect(probabilities.every((p) => p >= 0 && p <= 1)).toBe(true);
    expect(
      rocAuc(
        truth.map((label) => label === config.positive_class),
        probabilities,
      ),
    ).toBeGreaterThan(0.85);
  } else if (config.problem_type === "regression") {
    const predicted = rows.map((row) => Number(row[config.label_column]));
    expect(predicted.every(Number.isFinite)).toBe(true);
    expect(rSquared(truth.map(Number), predicted)).toBeGreaterThan(0.7);
  } else {
    const predicted = predictedLabels(rows, config);
    if (!config.class_probabilities) expect(new Set(predicted)).toEqual(new Set(config.label_values));
    expect(agreement(truth, predicted)).toBeGreaterThan(0.75);
  }
  // Only the predictions are left behind: no model folders in outputs/ or the iteration folder.
  await expectOnlyPredictions(result, config);
}

const hasXgboost =
  hasPython &&
  (await run(python, ["-c", "import xgboost"]).then(
    () => true,
    () => false,
  ));
const timings: string[] = [];

describe.skipIf(!hasPython)("program templates", () => {
  let root: string;
  const tasks = {
    binary: binaryTask(),
    multiclass: multiclassTask(),
    regression: regressionTask(),
    "text-binary": textBinaryTask(),
    "text-multiclass": textMulticlassTask(),
    "text-regression": textRegressionTask(),
    "multimodal-binary": multimodalBinaryTask(),
    "multimodal-multiclass": multimodalMulticlassTask(),
    "multimodal-regression": multimodalRegressionTask(),
  };
  const taskDir = (task: SyntheticTask): string => path.join(root, task.name);

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), "mlzero-templates-"));
    for (const task of Object.values(tasks)) await writeTaskInput(taskDir(task), task);
    // Parquet needs a writer; pandas in the runtime is one.
    const input = path.join(taskDir(tasks.regression), "input");
    await run(python, [
      "-c",
      "import sys, pandas as pd; pd.read_json(sys.argv[1], lines=True).to_parquet(sys.argv[2])",
      path.join(input, "test.jsonl"),
      path.join(input, "test.parquet"),
    ]);
  });

  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
    if (timings.length > 0) console.info(`template runs:\n  ${timings.join("\n  ")}`);
  });

  const cases: {
    tool: string;
    task: keyof typeof tasks;
    overrides: Partial<ProgramConfig>;
    passes: (score: number, task: SyntheticTask) => boolean;
    /** What the program must have said on stdout or stderr (which columns it read as text, which stage ran). */
    says?: RegExp;
  }[] = [
    // roc_auc of a constant predictor is 0.5; the ignored leak column would give 1.0.
    // positive_class: the label column holds P("yes").
    { tool: "lightgbm", task: "binary", overrides: { positive_class: "yes" }, passes: (score) => score > 0.85 && score < 0.99 },
    // log_loss of the class priors is about ln 3 = 1.10.
    { tool: "lightgbm", task: "multiclass", overrides: {}, passes: (score) => score < 0.75 },
    // rmse of the mean is the target's standard deviation.
    { tool: "lightgbm", task: "regression", overrides: {}, passes: (score, task) => score < 0.5 * task.targetStd },
    // reduce_level 2 switches to the linear model; accuracy of the majority class is about 0.55.
    {
      tool: "sklearn",
      task: "binary",
      overrides: { metric: "accuracy", reduce_level: 2 },
      passes: (score) => score > 0.75 && score < 0.99,
    },
    { tool: "sklearn", task: "multiclass", overrides: { metric: "f1_macro" }, passes: (score) => score > 0.6 },
    { tool: "sklearn", task: "regression", overrides: { metric: "r2" }, passes: (score) => score > 0.7 },

    // text-tfidf finds the two free-text columns itself and leaves the short categorical one-hot.
    {
      tool: "text-tfidf",
      task: "text-binary",
      overrides: {},
      passes: (score) => score > 0.85 && score < 0.99,
      says: /free-text columns: \['title', 'review'\]; categorical: \['platform'\]/,
    },
    // log_loss of the class priors is ln 4 = 1.39.
    { tool: "text-tfidf", task: "text-multiclass", overrides: {}, passes: (score) => score < 0.6 },
    { tool: "text-tfidf", task: "text-regression", overrides: {}, passes: (score, task) => score < 0.5 * task.targetStd },
    // reduce_level 2: word n-grams only, one strength; the majority class scores about 0.55.
    {
      tool: "text-tfidf",
      task: "text-binary",
      overrides: { metric: "accuracy", reduce_level: 2 },
      passes: (score) => score > 0.75,
      says: /word n-grams only/,
    },
    // The text alone reaches about 0.73 and the table alone about 0.80: above 0.84 it uses both.
    { tool: "text-tfidf", task: "multimodal-multiclass", overrides: {}, passes: (score) => score > 0.84 },

    // The review alone gives a roc_auc of about 0.73, the table alone about 0.78.
    {
      tool: "tabular-text",
      task: "multimodal-binary",
      overrides: {},
      passes: (score) => score > 0.85 && score < 0.99,
      says: /HistGradientBoostingClassifier stacked on LogisticRegression/,
    },
    { tool: "tabular-text", task: "multimodal-multiclass", overrides: {}, passes: (score) => score > 0.84 },
    // mae: the text alone gives about 0.65 and the table alone about 0.5 of the target's standard deviation.
    { tool: "tabular-text", task: "multimodal-regression", overrides: {}, passes: (score, task) => score < 0.3 * task.targetStd },
    // reduce_level 2: the linear model alone.
    {
      tool: "tabular-text",
      task: "multimodal-regression",
      overrides: { metric: "r2", reduce_level: 2 },
      passes: (score) => score > 0.8,
      says: /Ridge on TF-IDF\+tabular: validation r2/,
    },

    { tool: "baseline", task: "regression", overrides: {}, passes: (score, task) => score < 0.5 * task.targetStd },
    { tool: "baseline", task: "text-multiclass", overrides: {}, passes: (score) => score < 0.7, says: /snippet \(text\)/ },
    { tool: "baseline", task: "multimodal-binary", overrides: {}, passes: (score) => score > 0.85 && score < 0.99 },
  ];

  for (const { tool, task: taskName, overrides, passes, says } of cases) {
    const reduced = overrides.reduce_level ? `, reduce_level ${overrides.reduce_level}` : "";
    it(`${tool} on the ${taskName} task (${overrides.metric ?? tasks[taskName].config.metric}${reduced})`, async () => {
      const task = tasks[taskName];
      const config = { ...task.config, ...overrides };
      const result = await runTemplate(taskDir(task), tool, config, `ok${overrides.reduce_level ?? ""}`);
      timings.push(`${tool} ${taskName}${reduced}: ${result.seconds.toFixed(1)} s, ${summary(result)}`);
      await expectValidRun(result, task, config, (score) => passes(score, task));
      if (says) expect(result.stdout + result.stderr).toMatch(says);
    });
  }

  it("baseline falls back to the majority class when no feature is usable, and still reports and predicts", async () => {
    const task = tasks.binary;
    const config = { ...task.config, metric: "accuracy", ignore_columns: ["leak", "x1", "x2", "color", "shop"] };
    const result = await runTemplate(taskDir(task), "baseline", config, "constant");
    timings.push(`baseline binary without features: ${result.seconds.toFixed(1)} s, ${summary(result)}`);
    expect(result.exitCode, result.stderr.slice(-3000)).toBe(0);
    expect(result.stderr).toMatch(/HistGradientBoosting failed \(ValueError: no usable feature column\); predicting the majority class/);
    const reported = parseResultLine(result.stdout)!;
    expect(reported).toMatchObject({ metric: "accuracy", model: "majority-class baseline" });
    // The majority class scores its share of the holdout, about one half.
    expect(reported.score).toBeGreaterThan(0.45);
    expect(reported.score).toBeLessThan(0.65);
    const rows = await readPredictions(result, config);
    expect(rows.map((row) => row[config.id_column!])).toEqual(task.testIds);
    const labels = new Set(rows.map((row) => row[config.label_column]!));
    expect(labels.size).toBe(1);
    expect(config.label_values).toContain([...labels][0]);
  });

  it("autogluon on the binary task within its time limit", async () => {
    const task = tasks.binary;
    // P("no") rather than the usual P("yes") catches a probability column taken by position.
    const config = { ...task.config, time_limit_seconds: 20, positive_class: "no" };
    const result = await runTemplate(taskDir(task), "autogluon", config, "ok");
    timings.push(`autogluon binary: ${result.seconds.toFixed(1)} s, ${summary(result)}`);
    await expectValidRun(result, task, config, (score) => score > 0.85 && score < 0.99);
    expect(result.seconds).toBeLessThan(60);
  }, 150_000);

  it.skipIf(hasXgboost)("xgboost fails cleanly with ModuleNotFoundError where it is not installed", async () => {
    const task = tasks.regression;
    const result = await runTemplate(taskDir(task), "xgboost", task.config, "absent");
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/ModuleNotFoundError: No module named 'xgboost'/);
    expect(result.stdout).not.toContain(RESULT_MARKER);
    expect(existsSync(path.join(result.iterationDir, task.config.output_path))).toBe(false);
  });

  it.skipIf(!hasXgboost)("xgboost on the regression task (mae) where it is installed", async () => {
    const task = tasks.regression;
    const config = { ...task.config, metric: "mae" };
    const result = await runTemplate(taskDir(task), "xgboost", config, "ok");
    timings.push(`xgboost regression: ${result.seconds.toFixed(1)} s, ${summary(result)}`);
    await expectValidRun(result, task, config, (score) => score < 0.4 * task.targetStd);
  });
});
