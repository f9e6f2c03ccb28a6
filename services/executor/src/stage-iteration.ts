import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { ITERATION_FILES, OUTPUTS_DIR } from "@mlzero/program";
import type { Program } from "@mlzero/proto";
import { iterationName, type TaskWorkspace } from "@mlzero/workspace";

/** Scratch folder of a run (HOME and TMPDIR), inside the iteration folder. */
export const SCRATCH_DIR = "tmp";

/** Launcher used when the program names none. */
export const DEFAULT_LAUNCHER = "python main.py";

/** Paths of an iteration folder that is ready to run. */
export interface StagedIteration {
  /** e.g. "iter-001", relative to the task folder. */
  name: string;
  dir: string;
  outputsDir: string;
  scratchDir: string;
  stdoutPath: string;
  stderrPath: string;
}

/**
 * Writes the program and its launcher into the iteration folder and creates
 * empty outputs and scratch folders. Whatever an earlier run of the same
 * iteration left (outputs, logs, scratch) is removed first, so a redelivered
 * request runs from a clean slate. The input folder is never written.
 */
export async function stageIteration(workspace: TaskWorkspace, iteration: number, program: Program): Promise<StagedIteration> {
  const dir = workspace.iterationDir(iteration);
  const staged: StagedIteration = {
    name: iterationName(iteration),
    dir,
    outputsDir: path.join(dir, OUTPUTS_DIR),
    scratchDir: path.join(dir, SCRATCH_DIR),
    stdoutPath: path.join(dir, ITERATION_FILES.stdout),
    stderrPath: path.join(dir, ITERATION_FILES.stderr),
  };
  await mkdir(dir, { recursive: true });
  await Promise.all(
    [staged.outputsDir, staged.scratchDir, staged.stdoutPath, staged.stderrPath].map((stale) =>
      rm(stale, { recursive: true, force: true }),
    ),
  );
  await Promise.all([mkdir(staged.outputsDir), mkdir(staged.scratchDir)]);
  await writeFile(path.join(dir, ITERATION_FILES.program), program.code);
  await writeFile(path.join(dir, ITERATION_FILES.launcher), launcherScript(program.launcher));
  return staged;
}

// Words, paths, `=` and `-` only: no operator, quote, expansion or newline.
const SIMPLE_COMMAND = /^[\w./=:+,-]+( +[\w./=:+,-]+)*$/;

/**
 * The run.sh for a launcher. A simple command is `exec`ed so the program
 * itself becomes the process the runner waits on, and a signal that kills it
 * (SIGKILL from the OOM killer, SIGTERM at timeout) shows in the result as a
 * signal rather than as the shell's exit status 128+n.
 */
export function launcherScript(launcher: string): string {
  const command = launcher.trim() || DEFAULT_LAUNCHER;
  return `#!/bin/sh\n${SIMPLE_COMMAND.test(command) ? `exec ${command}` : command}\n`;
}
