import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { ITERATION_FILES, renderProgram, type ProgramConfig } from "@mlzero/program";
import { DEFAULT_KNOWLEDGE_DIR, loadCorpus } from "./load-corpus.js";

/**
 * Test support for the program template tests (imported by tests only): the
 * shipped corpus, the venv python, and running a rendered template the way
 * the executor does.
 */

export const run = promisify(execFile);
export const repoRoot = path.resolve(import.meta.dirname, "../../..");
/** MLZERO_PYTHON, else the repository's venv: the runtime the executor gives programs. */
export const python = process.env.MLZERO_PYTHON ?? path.join(repoRoot, ".venv/bin/python");
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
