import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProgramConfig, ProgramResult } from "@mlzero/program";
import { Modality, ProblemType } from "@mlzero/proto";
import { shapeFoldersTask, shapeTableTask, writeImageTaskInput, type ImageTask } from "./synthetic-series-and-images.js";
import { textBinaryTask, textRegressionTask, writeTaskInput, type SyntheticTask } from "./synthetic-tasks.js";
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
  rocAuc,
  rSquared,
  run,
  runtimePins,
  runTemplate,
  type ProgramRun,
} from "./template-runner.js";

/**
 * The GPU variants (image-timm, text-transformer) run here on CPU, where
 * torch.cuda.is_available() is false: the same code with a narrower network,
 * so the programs' plumbing, budget planning and blending are checked without
 * a GPU.
 */

const timings: string[] = [];
const tool = (name: string) => corpus.tools.find((candidate) => candidate.name === name)!;

describe("registry entries of the GPU variants", () => {
  it("registers image-timm and text-transformer as GPU tools ranked above their CPU counterparts", () => {
    expect(tool("image-timm")).toMatchObject({
      modalities: [Modality.IMAGE],
      problemTypes: [ProblemType.BINARY, ProblemType.MULTICLASS],
      pythonModule: "timm",
      priority: 95,
      needsGpu: true,
    });
    expect(tool("text-transformer")).toMatchObject({
      modalities: [Modality.TEXT, Modality.MULTIMODAL],
      problemTypes: tool("text-tfidf").problemTypes,
      pythonModule: "transformers",
      priority: 95,
      needsGpu: true,
    });
    expect(tool("image-timm").priority).toBeGreaterThan(tool("image-cnn").priority);
    expect(tool("text-transformer").priority).toBeGreaterThan(tool("text-tfidf").priority);
    // Every other tool runs without a GPU, so a task without one always has a candidate.
    const gpuTools = corpus.tools.filter((entry) => entry.needsGpu).map((entry) => entry.name);
    expect(gpuTools.sort()).toEqual(["image-timm", "text-transformer"]);
  });

  it("pins exact versions, the runtime's where it pins the library", async () => {
    const runtime = await runtimePins();
    for (const name of ["image-timm", "text-transformer"]) {
      for (const requirement of tool(name).requirements) {
        expect(requirement).toMatch(/^[\w.-]+==\d[\w.]*$/);
        const [library, version] = requirement.split("==");
        // pillow and tokenizers reach the runtime as dependencies (of matplotlib, of transformers).
        if (runtime.has(library!)) expect(runtime.get(library!), requirement).toBe(version);
      }
    }
    expect(tool("image-timm").requirements).toEqual(expect.arrayContaining(["torch==2.14.1", "torchvision==0.29.2", "timm==1.0.31"]));
    expect(tool("text-transformer").requirements).toEqual(expect.arrayContaining(["torch==2.14.1", "transformers==5.24.0"]));
  });

  it.skipIf(!hasPython)("pins the versions installed in the runtime", async () => {
    const names = [...new Set(["image-timm", "text-transformer"].flatMap((name) => tool(name).requirements))];
    const script = "import sys\nfrom importlib.metadata import version\nfor r in sys.argv[1:]:\n    print(r, version(r.split('==')[0]))";
    const { stdout } = await run(python, ["-c", script, ...names]);
    for (const line of stdout.trim().split("\n")) {
      const [requirement, installed] = line.split(" ");
      // A local build tag ("2.14.1+cu130") is the same release.
      expect(installed!.split("+")[0], requirement).toBe(requirement!.split("==")[1]);
    }
  });

  it("has tutorials whose sections quote the errors they fix", () => {
    const sections = (name: string) => corpus.chunks.filter((chunk) => chunk.tool === name && chunk.source.startsWith("tutorials/"));
    for (const name of ["image-timm", "text-transformer"]) {
      const sources = new Set(sections(name).map((chunk) => chunk.source));
      expect(sources).toEqual(new Set([`tutorials/${name}/basics.md`, `tutorials/${name}/common-errors.md`]));
    }
    const titles = (name: string) =>
      sections(name)
        .map((chunk) => chunk.title)
        .join("\n");
    expect(titles("image-timm")).toMatch(/LocalEntryNotFoundError/);
    expect(titles("image-timm")).toMatch(/running_mean should contain 16 elements not 64/);
    expect(titles("image-timm")).toMatch(/Got unsupported ScalarType BFloat16/);
    expect(titles("text-transformer")).toMatch(/We couldn't connect to 'https:\/\/huggingface.co'/);
    expect(titles("text-transformer")).toMatch(/Asking to pad but the tokenizer does not have a padding token/);
    expect(titles("text-transformer")).toMatch(/The y_prob values do not sum to one/);
  });
});

describe("retrieving the fix for a timm or transformers error message", () => {
  itFindsTheFix([
    ["AssertionError: BasicBlock does not support changing base width", /BasicBlock does not support changing base width/],
    ["TypeError: Got unsupported ScalarType BFloat16", /Got unsupported ScalarType BFloat16/],
    [
      "RuntimeError: Input type (CPUBFloat16Type) and weight type (torch.FloatTensor) should be the same or input should be a MKLDNN tensor",
      /CPUBFloat16Type/,
    ],
    ["ValueError: Asking to pad but the tokenizer does not have a padding token.", /Asking to pad/],
    [
      "ValueError: The hidden size (384) is not a multiple of the number of attention heads (5)",
      /not a multiple of the number of attention heads/,
    ],
    [
      "RuntimeError: The expanded size of the tensor (1201) must match the existing size (128) at non-singleton dimension 1.",
      /The expanded size of the tensor/,
    ],
  ]);
});

describe.skipIf(!hasPython)("GPU variant templates, run on CPU", () => {
  let root: string;
  const taskDir = (task: { name: string }): string => path.join(root, task.name);
  const images = { folders: shapeFoldersTask(), table: shapeTableTask() };
  const texts = { binary: textBinaryTask(), regression: textRegressionTask() };

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), "mlzero-gpu-templates-"));
    for (const task of Object.values(images)) await writeImageTaskInput(taskDir(task), task, python);
    for (const task of Object.values(texts)) await writeTaskInput(taskDir(task), task);
  }, 60_000);

  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
    if (timings.length > 0) console.info(`template runs:\n  ${timings.join("\n  ")}`);
  });

  /** Runs image-timm and checks its predictions on the test images against the truth. */
  async function expectImages(
    task: ImageTask,
    overrides: Partial<ProgramConfig>,
    passes: (score: number) => boolean,
  ): Promise<ProgramResult> {
    const config = { ...task.config, time_limit_seconds: 25, ...overrides };
    const result = await runTemplate(taskDir(task), "image-timm", config, `r${config.reduce_level}`);
    const reported = expectResult(result, config);
    expect(result.stdout).toMatch(/training on CPU \(2 cores, 1 used by torch\)/);
    expect(result.stdout).toMatch(/^mlzero: model: timm ResNet-10 \(/m);
    expect(reported.model).toMatch(/^timm ResNet-10 \(\d+-\d+ channels, 32x32, from scratch, cpu\)$/);
    expect(passes(reported.score), `${config.metric} = ${reported.score}`).toBe(true);

    const rows = await readPredictions(result, config);
    expect(rows.map((row) => row[config.id_column!])).toEqual(task.testIds);
    const predicted = predictedLabels(rows, config);
    // Chance is 1/3 with three balanced classes.
    const accuracy = predicted.filter((label, index) => label === task.testTruth[index]).length / predicted.length;
    timings.push(
      `image-timm ${task.name}, reduce_level ${config.reduce_level}: ${result.seconds.toFixed(1)} s, ` +
        `${config.metric} ${reported.score.toFixed(4)}, test accuracy ${accuracy.toFixed(3)} (${reported.model})`,
    );
    expect(accuracy).toBeGreaterThan(0.7);
    expect(result.seconds).toBeLessThan(60);
    await expectOnlyPredictions(result, config);
    return reported;
  }

  it("image-timm classifies shapes in class folders of mixed modes and sizes, skipping a broken file (accuracy)", async () => {
    await expectImages(images.folders, {}, (score) => score > 0.7);
  }, 150_000);

  it("image-timm at reduce_level 2 classifies grayscale shapes listed in a CSV, with class probabilities (log_loss)", async () => {
    // log_loss of the class priors is ln 3 = 1.10.
    const reported = await expectImages(images.table, { reduce_level: 2 }, (score) => score < 0.6);
    expect(reported.model).toMatch(/\(8-64 channels/);
  }, 150_000);

  /**
   * Runs text-transformer and checks the blend: the three candidates' holdout scores are printed,
   * the reported one is the best of them, and the model string names the winner.
   */
  async function expectBlend(
    task: SyntheticTask,
    lowerIsBetter: boolean,
  ): Promise<{ result: ProgramRun; reported: ProgramResult; transformer: number }> {
    const config = { ...task.config, time_limit_seconds: 25 };
    const result = await runTemplate(taskDir(task), "text-transformer", config);
    const reported = expectResult(result, config);
    expect(result.stdout).toMatch(/training the transformer on CPU \(2 cores, 1 used by torch\)/);
    expect(result.stdout).toMatch(/byte-level BPE vocabulary of \d+ tokens/);
    const metric = config.metric;
    const scores = {
      tfidf: printedScore(result.stdout, "blend TF-IDF alone", metric),
      average: printedScore(result.stdout, "blend average", metric),
      transformer: printedScore(result.stdout, "blend transformer alone", metric),
    };
    const best = (lowerIsBetter ? Math.min : Math.max)(...Object.values(scores));
    expect(reported.score).toBeCloseTo(best, 4);
    const network = "BERT 2x64 from scratch \\(cpu\\)";
    const linear = config.problem_type === "regression" ? "Ridge on TF-IDF" : "LogisticRegression on TF-IDF";
    const names = {
      tfidf: new RegExp(`^${linear}, chosen over ${network}$`),
      average: new RegExp(`^average of ${network} and ${linear}$`),
      transformer: new RegExp(`^${network}, chosen over ${linear}$`),
    };
    // Ties go to the simpler candidate, in this order.
    const winner = (["tfidf", "average", "transformer"] as const).find((key) => scores[key] === best)!;
    expect(reported.model).toMatch(names[winner]);
    timings.push(
      `text-transformer ${task.name}: ${result.seconds.toFixed(1)} s, ${metric} TF-IDF ${scores.tfidf.toFixed(4)}, ` +
        `average ${scores.average.toFixed(4)}, transformer ${scores.transformer.toFixed(4)} -> ${reported.model}`,
    );
    expect(result.seconds).toBeLessThan(60);
    await expectOnlyPredictions(result, config);
    return { result, reported, transformer: scores.transformer };
  }

  it("text-transformer reads a title and a review beside the table's columns, blended with TF-IDF (roc_auc)", async () => {
    const task = texts.binary;
    const { result, reported, transformer } = await expectBlend(task, false);
    // roc_auc of a constant predictor is 0.5: the transformer alone must have learned the sentiment words.
    expect(transformer).toBeGreaterThan(0.8);
    expect(reported.score).toBeGreaterThan(0.9);
    const rows = await readPredictions(result, task.config);
    expect(rows.map((row) => row.review_id)).toEqual(task.testIds);
    const probabilities = rows.map((row) => Number(row.sentiment));
    expect(probabilities.every((p) => p >= 0 && p <= 1)).toBe(true);
    const auc = rocAuc(
      task.testTruth.map((label) => label === "positive"),
      probabilities,
    );
    timings.push(`text-transformer ${task.name}: test roc_auc ${auc.toFixed(4)}`);
    expect(auc).toBeGreaterThan(0.85);
  }, 150_000);

  it("text-transformer regresses a price on a listing's words, blended with Ridge on TF-IDF (rmse)", async () => {
    const task = texts.regression;
    const { result, reported, transformer } = await expectBlend(task, true);
    // rmse of the mean is the target's standard deviation.
    expect(transformer).toBeLessThan(0.6 * task.targetStd);
    expect(reported.score).toBeLessThan(0.5 * task.targetStd);
    const rows = await readPredictions(result, task.config);
    const predicted = rows.map((row) => Number(row.price));
    expect(predicted.every(Number.isFinite)).toBe(true);
    const r2 = rSquared(task.testTruth.map(Number), predicted);
    timings.push(`text-transformer ${task.name}: test r2 ${r2.toFixed(4)}, target std ${task.targetStd.toFixed(3)}`);
    expect(r2).toBeGreaterThan(0.7);
  }, 150_000);
});
