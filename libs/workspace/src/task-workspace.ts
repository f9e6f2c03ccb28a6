import path from "node:path";
import { InvalidInputError } from "@mlzero/errors";

/**
 * Paths of one task's workspace:
 * `<root>/<tenant>/<taskId>/{input,iter-001,...,output}`.
 * Every service derives them from its own root, so events carry no paths
 * that depend on where a volume is mounted.
 */
export interface TaskWorkspace {
  readonly taskDir: string;
  /** The data folder, read-only to generated code. */
  readonly inputDir: string;
  /** Final predictions, best program and reports. */
  readonly outputDir: string;
  /** Tables perception derives from the input (joined, converted, gathered), read-only to generated code. */
  readonly derivedDir: string;
  /** Folder of one iteration (1-based). */
  iterationDir(iteration: number): string;
}

/** Name of a task's folder of derived tables, beside input/: context paths name it relative to the task folder. */
export const DERIVED_DIR = "derived";

const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Folder name of an iteration: 1 → "iter-001". */
export function iterationName(iteration: number): string {
  if (!Number.isInteger(iteration) || iteration < 1) {
    throw new InvalidInputError(`iteration must be a positive integer, got ${iteration}`);
  }
  return `iter-${String(iteration).padStart(3, "0")}`;
}

/** The workspace of a task under `root`; rejects ids that could escape it. */
export function taskWorkspace(root: string, tenant: string, taskId: string): TaskWorkspace {
  for (const [name, value] of [
    ["tenant", tenant],
    ["task id", taskId],
  ] as const) {
    if (!SAFE_SEGMENT.test(value) || value === "." || value === "..") {
      throw new InvalidInputError(`${name} ${JSON.stringify(value)} is not a safe name (letters, digits, . _ -)`);
    }
  }
  const taskDir = path.join(path.resolve(root), tenant, taskId);
  return {
    taskDir,
    inputDir: path.join(taskDir, "input"),
    outputDir: path.join(taskDir, "output"),
    derivedDir: path.join(taskDir, DERIVED_DIR),
    iterationDir: (iteration) => path.join(taskDir, iterationName(iteration)),
  };
}

/**
 * Resolves `relative` inside `base`, refusing anything that would leave it
 * (absolute paths, `..`), so file names from data or programs stay confined.
 */
export function resolveInside(base: string, relative: string): string {
  const resolved = path.resolve(base, relative);
  const root = path.resolve(base);
  if (resolved !== root && !resolved.startsWith(root + path.sep)) {
    throw new InvalidInputError(`path ${JSON.stringify(relative)} leaves its folder`);
  }
  return resolved;
}
