import { existsSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { generateChurnTask, generateHousePriceTask, generateSpeciesTask, type GeneratedTask } from "../support/generate-tasks.js";
import { readPredictions, readReport } from "../support/read-predictions.js";
import { runCli } from "../support/run-cli.js";
import { accuracy, r2, rocAuc } from "../support/scoring.js";

// Each task runs the real CLI: six services in one process, Python programs in the sandbox.
// A run takes 5-40 s alone; the generous timeout absorbs 2 cores shared with other test files.
const RUN_TIMEOUT_MS = 300_000;
const LIMITS = ["--time-limit", "900", "--iteration-time-limit", "240"];

describe("mlzero run, end to end on generated tabular tasks", () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), "mlzero-e2e-"));
  });

  async function run(task: GeneratedTask, name: string, extra: string[] = []) {
    const out = path.join(root, `out-${name}`);
    const result = await runCli(["run", task.inputDir, "--out", out, ...LIMITS, ...extra]);
    const report = await readReport(out).catch(() => undefined);
    const context = `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr.slice(-3000)}`;
    expect(result.code, context).toBe(0);
    expect(report?.status, context).toBe("succeeded");
    console.info(`${name}: ${(result.wallMs / 1000).toFixed(1)} s, tool ${report!.tool}, iterations ${report!.iterations}`);
    return { out, report: report!, result };
  }

  it(
    "binary classification with string categoricals, missing values and an AUC metric",
    async () => {
      const task = await generateChurnTask(root);
      const { out, report } = await run(task, "churn");
      expect(report.metric).toBe("roc_auc");
      expect(report.predictions).toBe("submission.csv");
      const predicted = await readPredictions(path.join(out, report.predictions!), task.idColumn, task.labelColumn);
      const ids = [...task.answers.keys()];
      expect(new Set(predicted.keys())).toEqual(new Set(ids));
      const truth = ids.map((id) => (task.answers.get(id) === "yes" ? 1 : 0));
      const scores = ids.map((id) => {
        const value = predicted.get(id)!;
        return value === "yes" ? 1 : value === "no" ? 0 : Number(value);
      });
      // A constant predictor scores 0.5.
      expect(rocAuc(truth, scores)).toBeGreaterThan(0.8);
      for (const file of ["report.md", "program.py", "mlzero.log", "iterations/iter-001/main.py", "iterations/iter-001/stdout.log"]) {
        expect(existsSync(path.join(out, file)), file).toBe(true);
      }
    },
    RUN_TIMEOUT_MS,
  );

  it(
    "regression from JSON Lines with the output format given only in a text file",
    async () => {
      const task = await generateHousePriceTask(root);
      const { out, report } = await run(task, "houses");
      expect(report.predictions).toBe("results.csv");
      expect(report.metric).toBe("rmse");
      const header = (await readFile(path.join(out, "results.csv"), "utf8")).split("\n")[0];
      expect(header).toBe("house_id,price");
      const predicted = await readPredictions(path.join(out, "results.csv"), task.idColumn, task.labelColumn);
      const ids = [...task.answers.keys()];
      // Predicting the mean scores 0.
      expect(
        r2(
          ids.map((id) => Number(task.answers.get(id))),
          ids.map((id) => Number(predicted.get(id))),
        ),
      ).toBeGreaterThan(0.8);
    },
    RUN_TIMEOUT_MS,
  );

  it(
    "multiclass with no description file and unusual file names",
    async () => {
      const task = await generateSpeciesTask(root);
      const { out, report } = await run(task, "birds");
      expect(report.predictions).toBe("predictions.csv");
      const predicted = await readPredictions(path.join(out, "predictions.csv"), task.idColumn, task.labelColumn);
      const ids = [...task.answers.keys()];
      // The majority class scores about 0.25.
      expect(
        accuracy(
          ids.map((id) => String(task.answers.get(id))),
          ids.map((id) => predicted.get(id)),
        ),
      ).toBeGreaterThan(0.6);
    },
    RUN_TIMEOUT_MS,
  );
});
