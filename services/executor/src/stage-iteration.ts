import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { ITERATION_FILES, OUTPUTS_DIR } from "@mlzero/program";
import type { Program } from "@mlzero/proto";
import { iterationName, type TaskWorkspace } from "@mlzero/workspace";
import { RUN_FILES } from "./run-record.js";

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

/** Identifies one launch in the launcher, so launches.log tells which launch ran. */
export interface LaunchLabel {
  launchId: string;
  candidateId: string;
}

/**
 * Writes the program and its launcher into the iteration folder and creates
 * empty outputs and scratch folders. Whatever an earlier run of the same
 * iteration left (outputs, logs, exit status, scratch) is removed first, so a
 * new launch runs from a clean slate. The run record and launches.log are
 * kept: they are the history of the folder. The input folder is never written.
 * Two executors may stage the same iteration at once (both took the same
 * request while the run record said "launching"): every step is idempotent,
 * so whichever removes last also creates last.
 */
export async function stageIteration(
  workspace: TaskWorkspace,
  iteration: number,
  program: Program,
  label: LaunchLabel,
): Promise<StagedIteration> {
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
  const exitStatus = path.join(dir, RUN_FILES.exitStatus);
  await Promise.all(
    [staged.outputsDir, staged.scratchDir, staged.stdoutPath, staged.stderrPath, exitStatus, `${exitStatus}.tmp`].map((stale) =>
      rm(stale, { recursive: true, force: true }),
    ),
  );
  await Promise.all([mkdir(staged.outputsDir, { recursive: true }), mkdir(staged.scratchDir, { recursive: true })]);
  await writeFile(path.join(dir, ITERATION_FILES.program), program.code);
  await writeFile(path.join(dir, ITERATION_FILES.launcher), launcherScript(program.launcher, label));
  return staged;
}

// Words, paths, `=` and `-` only: no operator, quote, expansion or newline.
const SIMPLE_COMMAND = /^[\w./=:+,-]+( +[\w./=:+,-]+)*$/;

/**
 * The run.sh for a launcher. It runs the program with its output going
 * straight to stdout.log and stderr.log (no pipe to the executor, which a
 * program would die writing to once the executor is gone), and around it
 * records the two facts a restarted executor needs: a line in launches.log
 * when it starts (with its pid) and the exit status when the program ends.
 * It catches SIGHUP, SIGINT and SIGTERM (the program does not: a subshell
 * resets caught signals), so a stop signal sent to the whole run ends the
 * program and still leaves its status recorded. A simple command is
 * `exec`ed in that subshell, so the status is the program's own, and a
 * signal that killed it (SIGKILL from the OOM killer, SIGTERM at timeout)
 * shows as 128 + its number.
 */
export function launcherScript(launcher: string, label: LaunchLabel): string {
  const command = launcher.trim() || DEFAULT_LAUNCHER;
  const run = SIMPLE_COMMAND.test(command) ? `(exec ${command})` : `(\n${command}\n)`;
  const word = (text: string) => text.replace(/[^\w.-]/g, "_");
  return [
    "#!/bin/sh",
    "# Written by the mlzero executor. Records this launch, runs the program with",
    "# its output in stdout.log and stderr.log, then records its exit status, so",
    "# the run and its outcome outlive the executor that started it.",
    `printf '%s launch=${word(label.launchId)} candidate=${word(label.candidateId)} pid=%s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" >> ${RUN_FILES.launches}`,
    "trap : HUP INT TERM",
    `${run} > ${ITERATION_FILES.stdout} 2> ${ITERATION_FILES.stderr} < /dev/null`,
    "status=$?",
    `printf '%s\\n' "$status" > ${RUN_FILES.exitStatus}.tmp && mv -f ${RUN_FILES.exitStatus}.tmp ${RUN_FILES.exitStatus}`,
    'exit "$status"',
    "",
  ].join("\n");
}
