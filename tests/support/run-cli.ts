import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: the nearest folder above this file with the lockfile (from src/ or dist/ alike). */
export const REPO_ROOT = (() => {
  let folder = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(folder, "package-lock.json"))) {
    const parent = path.dirname(folder);
    if (parent === folder) throw new Error("cannot find the repository root");
    folder = parent;
  }
  return folder;
})();
/** Node 24 as the project provisions it. */
export const NODE_BIN = path.join(REPO_ROOT, "node_modules", ".bin", "node");
const CLI = path.join(REPO_ROOT, "cli", "dist", "main.js");

/** What one CLI run did. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
}

/** Runs the built `mlzero` CLI as a user would, with a time limit. */
export function runCli(args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(NODE_BIN, [CLI, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 600_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, wallMs: Date.now() - started });
    });
  });
}
