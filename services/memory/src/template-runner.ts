import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { ITERATION_FILES, parseResultLine, renderProgram, RESULT_MARKER, type ProgramConfig, type ProgramResult } from "@mlzero/program";
import { RetrieveRequestSchema } from "@mlzero/proto";
import { createEmbeddedVectorStore } from "@mlzero/vectors";
import { beforeAll, expect, it } from "vitest";
import { DEFAULT_KNOWLEDGE_DIR, loadCorpus } from "./load-corpus.js";
import { createSemanticMemory } from "./semantic-memory.js";

/**
 * Test support for the program template tests (imported by tests only): the
 * shipped corpus, the venv python, running a rendered template the way the
 * executor does, and the checks of a run's result line and predictions.
 */

export const run = promisify(execFile);
export const repoRoot = path.resolve(import.meta.dirname, "../../..");
/** MLZERO_PYTHON, else the repository's venv: the runtime the executor gives programs. */
export const python = process.env.MLZERO_PYTHON ?? path.join(repoRoot, ".venv/bin/python");
/** Whether that python exists: the tests that run templates are skipped without it. */
export const hasPython = existsSync(python);
export const corpus = loadCorpus(DEFAULT_KNOWLEDGE_DIR);

export interface ProgramRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  seconds: number;
  iterationDir: string;
}

/**
 * Renders `tool`'s template with `config` and runs it as the executor does: cwd = a fresh
 * iteration folder beside `input/`, `iter-<tool>` or `iter-<tool>-<label>` when one task
 * runs a tool more than once. A failed run is returned, not thrown, so tests can assert on it.
 */
export async function runTemplate(taskDir: string, tool: string, config: ProgramConfig, label?: string): Promise<ProgramRun> {
  const iterationDir = path.join(taskDir, label === undefined ? `iter-${tool}` : `iter-${tool}-${label}`);
  await mkdir(iterationDir, { recursive: true });
  await writeFile(path.join(iterationDir, ITERATION_FILES.program), renderProgram(corpus.templates.get(tool)!, config));
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const { stdout, stderr } = await run(python, [ITERATION_FILES.program], {
      cwd: iterationDir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: iterationDir, MLZERO_CPUS: "2", PYTHONDONTWRITEBYTECODE: "1" },
      timeout: 150_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { exitCode: 0, stdout, stderr, seconds: seconds(), iterationDir };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    const exitCode = typeof failed.code === "number" ? failed.code : -1;
    return { exitCode, stdout: failed.stdout ?? "", stderr: failed.stderr ?? String(error), seconds: seconds(), iterationDir };
  }
}

/** The one result line of a successful run, checked against the config. */
export function expectResult(result: ProgramRun, config: ProgramConfig): ProgramResult {
  expect(result.exitCode, result.stderr.slice(-3000)).toBe(0);
  expect(result.stdout.split("\n").filter((line) => line.startsWith(RESULT_MARKER + " "))).toHaveLength(1);
  const reported = parseResultLine(result.stdout)!;
  expect(reported.metric).toBe(config.metric);
  expect(reported.validation_rows).toBeGreaterThan(0);
  expect(reported.model).toBeTruthy();
  return reported;
}

/** Only the predictions file is left behind: no model folders, tokenizer files or caches (HOME is the iteration folder). */
export async function expectOnlyPredictions(result: ProgramRun, config: ProgramConfig): Promise<void> {
  expect(await readdir(path.join(result.iterationDir, path.dirname(config.output_path)))).toEqual([path.basename(config.output_path)]);
  expect((await readdir(result.iterationDir)).sort()).toEqual([ITERATION_FILES.program, path.dirname(config.output_path)].sort());
}

/** The simple CSV the templates write here (no quoted fields), checked for its header and blanks: one record a row. */
export async function readPredictions(result: ProgramRun, config: ProgramConfig): Promise<Record<string, string>[]> {
  const text = await readFile(path.join(result.iterationDir, config.output_path), "utf8");
  const [header, ...lines] = text.trimEnd().split("\n");
  expect(header!.split(",")).toEqual(config.output_columns);
  return lines.map((line) => {
    const cells = line.split(",");
    expect(cells).toHaveLength(config.output_columns.length);
    expect(cells.every((cell) => cell !== "" && cell.toLowerCase() !== "nan")).toBe(true);
    return Object.fromEntries(config.output_columns.map((column, index) => [column, cells[index]!]));
  });
}

/** The label each predictions row gives: the label column, or the class of the highest probability (each checked to be one, summing to 1). */
export function predictedLabels(rows: Record<string, string>[], config: ProgramConfig): string[] {
  return rows.map((row) => {
    if (!config.class_probabilities) return row[config.label_column]!;
    const probabilities = config.label_values.map((label) => Number(row[label]));
    expect(probabilities.every((p) => p >= 0 && p <= 1)).toBe(true);
    expect(probabilities.reduce((sum, p) => sum + p, 0)).toBeCloseTo(1, 4);
    return config.label_values[probabilities.indexOf(Math.max(...probabilities))]!;
  });
}

/** A validation score the program printed on a progress line, e.g. "mlzero: blend average: validation rmse = 1.0743". */
export function printedScore(stdout: string, label: string, metric: string): number {
  const match = new RegExp(`^mlzero: ${label}: validation ${metric} = (\\S+)`, "m").exec(stdout);
  expect(match, `no ${label} score in\n${stdout}`).not.toBeNull();
  return Number(match![1]);
}

/** Probability that a random positive scores above a random negative (ties count half). */
export function rocAuc(positive: boolean[], scores: number[]): number {
  let wins = 0;
  let pairs = 0;
  positive.forEach((isPositive, i) => {
    if (!isPositive) return;
    positive.forEach((other, j) => {
      if (other) return;
      pairs++;
      wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    });
  });
  return wins / pairs;
}

export function rSquared(truth: number[], predicted: number[]): number {
  const mean = truth.reduce((sum, value) => sum + value, 0) / truth.length;
  const residual = truth.reduce((sum, value, index) => sum + (value - predicted[index]!) ** 2, 0);
  const total = truth.reduce((sum, value) => sum + (value - mean) ** 2, 0);
  return 1 - residual / total;
}

/** The exact versions runtime/requirements.txt pins, by library. */
export async function runtimePins(): Promise<Map<string, string>> {
  return new Map(
    (await readFile(path.join(repoRoot, "runtime/requirements.txt"), "utf8"))
      .split("\n")
      .filter((line) => /^[\w.-]+==/.test(line))
      .map((line) => line.split("==") as [string, string]),
  );
}

/**
 * Inside a describe: indexes the shipped knowledge in an embedded store, then checks, case by
 * case, that retrieving an error message finds a section whose title matches in the top 3.
 */
export function itFindsTheFix(cases: [query: string, expected: RegExp][]): void {
  const memory = createSemanticMemory({ store: createEmbeddedVectorStore(), knowledgeDir: DEFAULT_KNOWLEDGE_DIR });
  beforeAll(() => memory.index());

  it.each(cases)("finds the section that fixes %j in the top 3", async (query, expected) => {
    const hits = await memory.retrieve(create(RetrieveRequestSchema, { tenant: "t1", query, limit: 3 }));
    const titles = hits.map((hit) => hit.title);
    expect(
      titles.some((title) => expected.test(title)),
      titles.join("\n"),
    ).toBe(true);
  });
}
