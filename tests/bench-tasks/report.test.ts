import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { comparisonTable, comparisonTotalsTable, suiteTotals, writeComparisonReports, type SuiteMode } from "./report.js";
import type { TaskRun } from "./run-task.js";
import type { TaskSpec } from "./suite.js";

// The side-by-side report of `make bench-tasks COMPARE_PARALLELISM=n`, on made-up runs.

function run(name: string, parallelism: number, outcome: { normalised?: number; wallSeconds: number; iterations?: number }): TaskRun {
  const success = outcome.normalised !== undefined;
  return {
    name,
    modality: "tabular",
    metric: "accuracy",
    greaterIsBetter: true,
    exitCode: success ? 0 : 1,
    status: success ? "succeeded" : "failed",
    success,
    reason: success ? "" : "gave up after 3 iteration(s): no tool is left to try",
    score: success ? 0.5 + outcome.normalised! / 2 : null,
    trivial: 0.5,
    reference: 1,
    normalised: success ? outcome.normalised! : null,
    iterations: outcome.iterations ?? 1,
    tool: success ? "lightgbm" : "",
    perceived: null,
    validationScore: null,
    wallSeconds: outcome.wallSeconds,
    outDir: `/tmp/${name}.p${parallelism}`,
    parallelism,
  };
}

const modes: SuiteMode[] = [
  {
    parallelism: 1,
    runs: [
      run("iris", 1, { normalised: 0.9, wallSeconds: 10 }),
      run("wine", 1, { wallSeconds: 30, iterations: 3 }),
      run("digits", 1, { normalised: 0.5, wallSeconds: 20 }),
    ],
  },
  {
    parallelism: 3,
    runs: [
      run("iris", 3, { normalised: 0.95, wallSeconds: 15, iterations: 3 }),
      run("wine", 3, { normalised: 0.8, wallSeconds: 12, iterations: 3 }),
      run("digits", 3, { normalised: 0.5, wallSeconds: 40, iterations: 3 }),
    ],
  },
];

describe("bench-tasks comparison report", () => {
  it("sets each mode's totals side by side", () => {
    expect(suiteTotals(modes[0]!.runs)).toMatchObject({
      succeeded: 2,
      meanNormalised: (0.9 + 0 + 0.5) / 3,
      medianWallSeconds: 20,
      maxWallSeconds: 30,
    });
    const lines = comparisonTotalsTable(modes).split("\n");
    expect(lines[0]).toBe("|  | single loop: --parallelism 1 | parallel search (3 at once): --parallelism 3 |");
    expect(lines).toContain("| success rate | 2/3 (67 %) | 3/3 (100 %) |");
    expect(lines).toContain("| mean normalised score (a failed task counts 0) | 0.467 | 0.750 |");
    expect(lines).toContain("| wall time per task, median (s) | 20.0 | 15.0 |");
    expect(lines).toContain("| wall time per task, max (s) | 30.0 | 40.0 |");
    expect(lines).toContain("| wall time, all tasks (s) | 60 | 67 |");
    expect(lines).toContain("| iterations, all tasks | 5 | 9 |");
  });

  it("sets each task's scores and wall times side by side, with the change against the first mode", () => {
    const lines = comparisonTable(modes).split("\n");
    expect(lines[0]).toBe(
      "| task | modality | metric | normalised p=1 | normalised p=3 | Δ normalised p=3 | score p=1 | score p=3 | iterations p=1 | iterations p=3 | " +
        "tool p=1 | tool p=3 | wall (s) p=1 | wall (s) p=3 | wall p=3 / p=1 | why not |",
    );
    expect(lines[2]).toBe(
      "| iris | tabular | accuracy ↑ | 0.90 | 0.95 | +0.05 | 0.9500 | 0.9750 | 1 | 3 | lightgbm | lightgbm | 10.0 | 15.0 | 1.50 |  |",
    );
    expect(lines[3]).toBe(
      "| wine | tabular | accuracy ↑ | failed | 0.80 | +0.80 | – | 0.9000 | 3 | 3 | – | lightgbm | 30.0 | 12.0 | 0.40 | p=1: gave up after 3 iteration(s): no tool is left to try |",
    );
    expect(lines[4]).toContain("| 0.50 | 0.50 | 0.00 |");
  });

  it("writes report.json with the modes and every task's runs in their order, and report.md with both tables", async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), "bench-tasks-report-"));
    const facts = {
      date: "2026-01-01T00:00:00.000Z",
      totalSeconds: 127,
      timeLimitSeconds: 600,
      machine: "2 × test CPU",
      args: ["--parallelism", "1,3"],
    };
    await writeComparisonReports(out, modes, [] as TaskSpec[], facts);
    const report = JSON.parse(await readFile(path.join(out, "report.json"), "utf8"));
    expect(report.compare.map((mode: { parallelism: number; label: string }) => [mode.parallelism, mode.label])).toEqual([
      [1, "single loop"],
      [3, "parallel search (3 at once)"],
    ]);
    expect(report.compare[1].totals.meanNormalised).toBeCloseTo(0.75);
    expect(report.tasks.map((task: { name: string }) => task.name)).toEqual(["iris", "wine", "digits"]);
    expect(report.tasks[1].runs.map((entry: TaskRun) => [entry.parallelism, entry.success, entry.wallSeconds])).toEqual([
      [1, false, 30],
      [3, true, 12],
    ]);
    const markdown = await readFile(path.join(out, "report.md"), "utf8");
    expect(markdown).toContain("`mlzero run --time-limit 600` per task, once with each of --parallelism 1, then --parallelism 3");
    expect(markdown).toContain(comparisonTotalsTable(modes));
    expect(markdown).toContain(comparisonTable(modes));
    await rm(out, { recursive: true, force: true });
  });
});
