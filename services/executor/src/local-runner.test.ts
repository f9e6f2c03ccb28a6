import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { ProgramSchema } from "@mlzero/proto";
import { taskWorkspace, type TaskWorkspace } from "@mlzero/workspace";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLocalRunner, type LocalRunnerOptions } from "./local-runner.js";
import type { RunRequest } from "./program-runner.js";

const pythonBin = path.resolve(import.meta.dirname, "../../../.venv/bin/python");
const MiB = 1024 * 1024;

let root: string;
let workspace: TaskWorkspace;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "executor-test-"));
  workspace = taskWorkspace(root, "acme", "task-1");
  await mkdir(workspace.inputDir, { recursive: true });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function runner(options: Partial<LocalRunnerOptions> = {}) {
  return createLocalRunner({ pythonBin, memorySampleIntervalMs: 50, killGraceMs: 500, ...options });
}

function request(code: string, overrides: Partial<RunRequest> = {}): RunRequest {
  return {
    taskId: "task-1",
    tenant: "acme",
    iteration: 1,
    program: create(ProgramSchema, { candidateId: "iter-001-test", tool: "test", code, launcher: "python main.py" }),
    workspace,
    timeLimitMs: 30_000,
    memoryLimitBytes: 2048 * MiB,
    gpus: 0,
    ...overrides,
  };
}

/** True while the process exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3));
  } catch {
    return false;
  }
}

async function waitForFile(file: string, timeoutMs = 10_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const text = existsSync(file) ? readFileSync(file, "utf8") : "";
    if (text.endsWith("\n")) return text;
    await sleep(25);
  }
  throw new Error(`${file} was not written in time`);
}

describe("createLocalRunner", () => {
  it("runs a program, captures its logs and lists its outputs", async () => {
    const code = [
      "import os, sys, time",
      "os.makedirs('outputs/extra', exist_ok=True)",
      "open('outputs/submission.csv', 'w').write('id,label\\n1,yes\\n')",
      "open('outputs/extra/notes.txt', 'w').write('hi')",
      "os.symlink('/etc/passwd', 'outputs/link.csv')",
      "print('training', flush=True)",
      "print('a warning', file=sys.stderr)",
      "_ = bytearray(64 * 1024 * 1024)",
      "time.sleep(0.4)",
      'print(\'MLZERO_RESULT {"metric": "accuracy", "score": 0.9}\')',
    ].join("\n");
    const result = await runner().run(request(code));

    expect(result.exitCode).toBe(0);
    expect(result.signal).toBe("");
    expect(result.timedOut).toBe(false);
    expect(result.cancelled).toBe(false);
    expect(result.candidateId).toBe("iter-001-test");
    expect(result.iterationDir).toBe("iter-001");
    expect(result.outputFiles).toEqual(["extra/notes.txt", "submission.csv"]);
    expect(result.stdoutTail).toBe('training\nMLZERO_RESULT {"metric": "accuracy", "score": 0.9}');
    expect(result.stderrTail).toBe("a warning");
    expect(durationMs(result.duration!)).toBeGreaterThanOrEqual(400);
    expect(result.peakMemoryBytes).toBeGreaterThan(64n * BigInt(MiB));

    const dir = workspace.iterationDir(1);
    expect(await readFile(path.join(dir, "main.py"), "utf8")).toBe(code);
    expect(await readFile(path.join(dir, "run.sh"), "utf8")).toContain("\n(exec python main.py) > stdout.log 2> stderr.log < /dev/null\n");
    expect(await readFile(path.join(dir, "launches.log"), "utf8")).toMatch(/^\S+ launch=\S+ candidate=iter-001-test pid=\d+\n$/);
    expect(await readFile(path.join(dir, "stdout.log"), "utf8")).toContain("MLZERO_RESULT");
    expect(await readFile(path.join(dir, "stderr.log"), "utf8")).toBe("a warning\n");
  });

  it("re-runs an iteration from a clean folder", async () => {
    const local = runner();
    await local.run(request("open('outputs/old.csv', 'w').write('x')\nprint('first')"));
    const result = await local.run(request("print('second')"));
    expect(result.outputFiles).toEqual([]);
    expect(await readFile(path.join(workspace.iterationDir(1), "stdout.log"), "utf8")).toBe("second\n");
  });

  it("reports a failing program's exit code and the last lines of stderr", async () => {
    const code = ["import sys", "for i in range(100): print(f'line {i}', file=sys.stderr)", "raise ValueError('boom')"].join("\n");
    const result = await runner({ tailLines: 3 }).run(request(code));
    expect(result.exitCode).toBe(1);
    const lines = result.stderrTail.split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/main\.py", line 3, in <module>$/);
    expect(lines[2]).toBe("ValueError: boom");
    expect(await readFile(path.join(workspace.iterationDir(1), "stderr.log"), "utf8")).toContain("line 0\n");
  });

  it("shares the cores among the runs going when a program is launched", async () => {
    const code = "import os, time\nopen('outputs/threads.txt', 'w').write(os.environ['OMP_NUM_THREADS'] + '\\n')\ntime.sleep(1.5)";
    const shared = (runs: number) => String(Math.max(1, Math.min(4, Math.floor(availableParallelism() / runs))));
    const local = runner();
    const first = local.run(request(code));
    await waitForFile(path.join(workspace.iterationDir(1), "outputs/threads.txt"));
    const second = local.run(
      request(code, { iteration: 2, program: create(ProgramSchema, { candidateId: "iter-002-test", code, launcher: "python main.py" }) }),
    );
    expect((await first).exitCode).toBe(0);
    expect((await second).exitCode).toBe(0);
    const threads = async (iteration: number) =>
      (await readFile(path.join(workspace.iterationDir(iteration), "outputs/threads.txt"), "utf8")).trim();
    expect([await threads(1), await threads(2)]).toEqual([shared(1), shared(2)]);
  });

  it("gives the program only its own environment", async () => {
    const secrets = { OPENAI_API_KEY: "sk-secret", AWS_SECRET_ACCESS_KEY: "aws-secret", MLZERO_DB_PASSWORD: "db-secret" };
    Object.assign(process.env, secrets);
    try {
      const code = "import json, os\njson.dump(dict(os.environ), open('outputs/env.json', 'w'))";
      const result = await runner({ threads: 2 }).run(request(code));
      expect(result.exitCode).toBe(0);
      const env = JSON.parse(await readFile(path.join(workspace.iterationDir(1), "outputs/env.json"), "utf8")) as Record<string, string>;
      const scratch = path.join(workspace.iterationDir(1), "tmp");
      expect(env).toEqual({
        PATH: `${path.dirname(pythonBin)}:/usr/bin:/bin`,
        HOME: scratch,
        TMPDIR: scratch,
        LANG: "C.UTF-8",
        LC_ALL: "C.UTF-8",
        PYTHONUNBUFFERED: "1",
        PYTHONDONTWRITEBYTECODE: "1",
        OMP_NUM_THREADS: "2",
        OPENBLAS_NUM_THREADS: "2",
        MKL_NUM_THREADS: "2",
        NUMEXPR_MAX_THREADS: "2",
        NUMEXPR_NUM_THREADS: "2",
        MLZERO_CPUS: "2",
        CUDA_VISIBLE_DEVICES: "",
        // Set by the shell and Python themselves, not passed in.
        PWD: workspace.iterationDir(1),
      });
    } finally {
      for (const name of Object.keys(secrets)) delete process.env[name];
    }
  });

  it("makes a 1 GiB allocation fail under a 256 MiB memory limit", async () => {
    const code = "data = bytearray(1024 ** 3)\nprint('allocated', len(data))";
    const limited = await runner().run(request(code, { memoryLimitBytes: 256 * MiB }));
    expect(limited.exitCode).toBe(1);
    expect(limited.stderrTail).toMatch(/MemoryError/);
    // The same program fits a larger limit, so the limit is what stopped it.
    // (Another iteration: a repeat in the same one returns the recorded run.)
    const roomy = await runner().run(request(code, { iteration: 2, memoryLimitBytes: 2048 * MiB }));
    expect(roomy.exitCode).toBe(0);
    expect(roomy.stdoutTail).toBe(`allocated ${1024 ** 3}`);
  });

  it("kills the whole process tree at the time limit, SIGTERM first", async () => {
    // main.py starts a child that ignores SIGTERM; the child starts a
    // grandchild in a new session that ignores it too. Both report their pids.
    const grandchild =
      "import os, signal, time; os.setsid(); signal.signal(signal.SIGTERM, signal.SIG_IGN); print(os.getpid(), flush=True); time.sleep(1000)";
    const child = [
      "import signal, subprocess, sys, time",
      "signal.signal(signal.SIGTERM, signal.SIG_IGN)",
      `subprocess.Popen([sys.executable, '-c', ${JSON.stringify(grandchild)}], stdout=open('grandchild.pid', 'w'))`,
      "time.sleep(1000)",
    ].join("\n");
    const code = [
      "import os, subprocess, sys, time",
      `p = subprocess.Popen([sys.executable, '-c', ${JSON.stringify(child)}])`,
      "open('child.pid', 'w').write(f'{p.pid}\\n')",
      "print('started', flush=True)",
      "time.sleep(1000)",
    ].join("\n");
    const started = Date.now();
    const result = await runner({ killGraceMs: 700 }).run(request(code, { timeLimitMs: 2_000 }));
    const elapsed = Date.now() - started;

    expect(result.timedOut).toBe(true);
    expect(result.cancelled).toBe(false);
    expect(result.exitCode).toBe(-1);
    expect(result.signal).toBe("SIGTERM");
    expect(result.stdoutTail).toBe("started");
    // The two stubborn processes only went after the grace period.
    expect(elapsed).toBeGreaterThanOrEqual(2_700);
    const dir = workspace.iterationDir(1);
    const pids = [await readFile(path.join(dir, "child.pid"), "utf8"), await readFile(path.join(dir, "grandchild.pid"), "utf8")].map(
      Number,
    );
    expect(pids.every((pid) => pid > 0)).toBe(true);
    expect(pids.filter(alive)).toEqual([]);
  });

  it("kills what a finished program left running in the background", async () => {
    const code = ["import subprocess", "p = subprocess.Popen(['sleep', '1000'])", "open('sleep.pid', 'w').write(f'{p.pid}\\n')"].join("\n");
    const started = Date.now();
    const result = await runner().run(request(code));
    expect(result.exitCode).toBe(0);
    expect(result.timedOut).toBe(false);
    // The sleeper held the log pipes open; the run did not wait on it.
    expect(Date.now() - started).toBeLessThan(10_000);
    const pid = Number(await readFile(path.join(workspace.iterationDir(1), "sleep.pid"), "utf8"));
    expect(alive(pid)).toBe(false);
  });

  it("cancels a task's running program", async () => {
    const local = runner();
    const code = "import time\nprint('ready', flush=True)\ntime.sleep(1000)";
    const running = local.run(request(code));
    await waitForFile(path.join(workspace.iterationDir(1), "stdout.log"));

    expect(await local.cancel("acme", "other-task")).toBe(false);
    expect(await local.cancel("acme", "task-1")).toBe(true);
    const result = await running;
    expect(result.cancelled).toBe(true);
    expect(result.timedOut).toBe(false);
    expect(result.signal).toBe("SIGTERM");
    expect(await local.cancel("acme", "task-1")).toBe(false);
  });

  it("refuses to stage over an iteration that is still running", async () => {
    const local = runner();
    const running = local.run(request("import time\nprint('ready', flush=True)\ntime.sleep(1000)"));
    await waitForFile(path.join(workspace.iterationDir(1), "stdout.log"));
    await expect(local.run(request("print('again')"))).rejects.toMatchObject({ kind: "failed_precondition" });
    await local.cancel("acme", "task-1");
    await running;
  });

  it("reports progress with the interleaved tail of both streams", async () => {
    const updates: { elapsedMs: number; logTail: string }[] = [];
    const code = "import sys, time\nprint('epoch 1', flush=True)\nprint('warn', file=sys.stderr, flush=True)\ntime.sleep(0.6)";
    await runner({ progressIntervalMs: 100 }).run(request(code, { onProgress: (update) => updates.push(update) }));
    expect(updates.length).toBeGreaterThanOrEqual(2);
    expect(updates.at(-1)!.logTail).toBe("epoch 1\nwarn");
    expect(updates.at(-1)!.elapsedMs).toBeGreaterThan(updates[0]!.elapsedMs);
  });

  it("refuses a Python that does not exist", () => {
    expect(() => createLocalRunner({ pythonBin: path.join(root, "no-python") })).toThrow(/python is not executable/);
  });
});
