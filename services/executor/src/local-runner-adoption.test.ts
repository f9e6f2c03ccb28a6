import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { ProgramSchema } from "@mlzero/proto";
import { taskWorkspace, type TaskWorkspace } from "@mlzero/workspace";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLocalRunner, INTERRUPTED_MESSAGE, type LocalRunner, type LocalRunnerOptions } from "./local-runner.js";
import type { RunRequest } from "./program-runner.js";
import { readLaunches, readRunRecord, RUN_FILES, type RunRecord } from "./run-record.js";

// A runner that is "detached" stops watching its runs and leaves them and
// their records alone, as a killed executor would; a second runner on the
// same workspace plays the restarted executor.

const pythonBin = path.resolve(import.meta.dirname, "../../../.venv/bin/python");

let root: string;
let workspace: TaskWorkspace;
let dir: string;
const runners: LocalRunner[] = [];

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "executor-adopt-"));
  workspace = taskWorkspace(root, "acme", "task-1");
  dir = workspace.iterationDir(1);
  await mkdir(workspace.inputDir, { recursive: true });
});

afterEach(async () => {
  // Whatever a failing test left running is cancelled by a runner that adopts it.
  const cleaner = runner();
  if (await cleaner.adopt(dir)) await cleaner.cancel("acme", "task-1");
  for (const each of runners.splice(0)) each.detach();
  await rm(root, { recursive: true, force: true });
});

function runner(options: Partial<LocalRunnerOptions> = {}): LocalRunner {
  const created = createLocalRunner({ pythonBin, memorySampleIntervalMs: 50, killGraceMs: 500, ...options });
  runners.push(created);
  return created;
}

function request(code: string, overrides: Partial<RunRequest> = {}): RunRequest {
  return {
    taskId: "task-1",
    tenant: "acme",
    iteration: 1,
    program: create(ProgramSchema, { candidateId: "iter-001-test", tool: "test", code, launcher: "python main.py" }),
    workspace,
    timeLimitMs: 60_000,
    memoryLimitBytes: 2 ** 31,
    gpus: 0,
    ...overrides,
  };
}

/** A program that says it started, waits for a file `go` to appear, then exits with `code`. */
function waitingProgram(code: number): string {
  return [
    "import os, sys, time",
    "print('started', flush=True)",
    "while not os.path.exists('go'): time.sleep(0.02)",
    "open('outputs/result.csv', 'w').write('id,y\\n1,2\\n')",
    "print('done', flush=True)",
    `sys.exit(${code})`,
  ].join("\n");
}

async function until(test: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(20);
  }
}

const startedRunning = () =>
  until(() => existsSync(path.join(dir, "stdout.log")) && readFileSync(path.join(dir, "stdout.log"), "utf8").includes("started"));

function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3));
  } catch {
    return false;
  }
}

/**
 * Starts a waiting program with `runner`, which then dies, and kills the
 * run's whole process group, as when their machine fails; the lost run's record.
 */
async function loseRun(first: LocalRunner): Promise<RunRecord> {
  await first.start(request(waitingProgram(0)));
  await startedRunning();
  first.detach();
  const lost = (await readRunRecord(dir))!;
  process.kill(-lost.process!.pid, "SIGKILL");
  await until(() => !processAlive(lost.process!.pid));
  return lost;
}

/** Processes whose process group is `leader`'s. */
function processesInGroup(leader: number): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) === leader;
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe("a run outlives its runner", () => {
  it("is adopted while it runs, not run again, and reports the program's own exit status", async () => {
    const first = runner();
    const launched = await first.start(request(waitingProgram(7)));
    expect(launched.launched).toBe(true);
    await startedRunning();
    first.detach();

    const second = runner();
    const progress: string[] = [];
    const adopted = await second.start(request(waitingProgram(7), { onProgress: (update) => progress.push(update.logTail) }));
    expect(adopted.launched).toBe(false);
    await writeFile(path.join(dir, "go"), "");
    const result = await adopted.result;

    expect(result.exitCode).toBe(7);
    expect(result.interrupted).toBe(false);
    expect(result.stdoutTail).toBe("started\ndone");
    expect(result.outputFiles).toEqual(["result.csv"]);
    expect(await readLaunches(dir)).toHaveLength(1);
    expect((await readRunRecord(dir))?.state).toBe("finished");
    await adopted.markReported();
    // A later request for the same run finds it reported: nothing to do.
    expect((await runner().start(request(waitingProgram(7)))).reported).toBe(true);
    expect(await readLaunches(dir)).toHaveLength(1);
  });

  it("joins a run it already watches when asked again", async () => {
    const local = runner();
    const first = await local.start(request(waitingProgram(0)));
    const again = await local.start(request(waitingProgram(0)));
    expect([first.launched, again.launched]).toEqual([true, false]);
    await writeFile(path.join(dir, "go"), "");
    expect((await again.result).exitCode).toBe(0);
    expect(first.reportId()).toBe(again.reportId());
    expect(await readLaunches(dir)).toHaveLength(1);
  });

  it("reports a run that ended while no runner watched it", async () => {
    const first = runner();
    await first.start(request(waitingProgram(5)));
    await startedRunning();
    first.detach();
    await writeFile(path.join(dir, "go"), "");
    await until(() => existsSync(path.join(dir, RUN_FILES.exitStatus)));
    await sleep(300);

    const result = await (await runner().start(request(waitingProgram(5)))).result;
    expect(result.exitCode).toBe(5);
    expect(result.stdoutTail).toBe("started\ndone");
    expect(durationMs(result.duration!)).toBeLessThan(5_000);
    expect(await readLaunches(dir)).toHaveLength(1);
  });

  it("launches a lost run again, once, from a clean slate in the same folder", async () => {
    const lost = await loseRun(runner());
    await writeFile(path.join(dir, "outputs", "partial.csv"), "left by the lost run\n");

    const relaunched = await runner().start(request(waitingProgram(0)));
    expect(relaunched.launched).toBe(true);
    await startedRunning();
    await writeFile(path.join(dir, "go"), "");
    const result = await relaunched.result;
    expect(result.interrupted).toBe(false);
    expect(result.exitCode).toBe(0);
    expect(result.outputFiles).toEqual(["result.csv"]);
    const launches = await readLaunches(dir);
    expect(launches.map((launch) => launch.launchId)).toEqual([lost.launchId, relaunched.startId()]);
    expect(await readRunRecord(dir)).toMatchObject({ relaunches: 1, state: "finished" });
  });

  it("kills what a lost launcher left running before it launches again", async () => {
    const first = runner();
    await first.start(request(waitingProgram(0)));
    await startedRunning();
    first.detach();
    // Only the launcher dies: its program, orphaned, would otherwise run beside the relaunch.
    const leader = (await readRunRecord(dir))!.process!.pid;
    const orphans = processesInGroup(leader).filter((pid) => pid !== leader);
    expect(orphans.length).toBeGreaterThan(0);
    process.kill(leader, "SIGKILL");
    await until(() => !processAlive(leader));

    const relaunched = await runner().start(request(waitingProgram(0)));
    expect(relaunched.launched).toBe(true);
    expect(orphans.filter(processAlive)).toEqual([]);
    await writeFile(path.join(dir, "go"), "");
    expect((await relaunched.result).exitCode).toBe(0);
  });

  it("reports a run lost past its relaunches as interrupted", async () => {
    await loseRun(runner({ relaunchesOfLostRuns: 0 }));
    const result = await (await runner({ relaunchesOfLostRuns: 0 }).start(request(waitingProgram(0)))).result;
    expect(result.interrupted).toBe(true);
    expect(result.exitCode).toBe(-1);
    expect(result.stderrTail).toContain(INTERRUPTED_MESSAGE);
    expect(await readLaunches(dir)).toHaveLength(1);
  });

  it("reports a lost run it has no program for as interrupted", async () => {
    await loseRun(runner());

    const result = await (await runner().adopt(dir))!.result;
    expect(result.interrupted).toBe(true);
    expect(await readLaunches(dir)).toHaveLength(1);
  });

  it("enforces the recorded deadline and honours cancel on an adopted run", async () => {
    const first = runner();
    await first.start(request(waitingProgram(0), { timeLimitMs: 1_500 }));
    await startedRunning();
    first.detach();
    const began = Date.now();
    const adopted = await runner().adopt(dir);
    const result = await adopted!.result;
    expect(result.timedOut).toBe(true);
    expect(result.signal).toBe("SIGTERM");
    expect(Date.now() - began).toBeLessThan(5_000);

    // Another iteration, cancelled through the adopting runner.
    const second = runner();
    await second.start(request(waitingProgram(0), { iteration: 2 }));
    await until(() => existsSync(path.join(workspace.iterationDir(2), "stdout.log")));
    second.detach();
    const adopter = runner();
    const handle = await adopter.start(request(waitingProgram(0), { iteration: 2 }));
    await adopter.cancel("acme", "task-1");
    const cancelled = await handle.result;
    expect(cancelled.cancelled).toBe(true);
    expect((await readRunRecord(workspace.iterationDir(2)))?.stopReason).toBe("cancel");
  });

  it("finds the launcher by its launch line when the executor died before recording its pid", async () => {
    const first = runner();
    await first.start(request(waitingProgram(2)));
    await startedRunning();
    first.detach();
    const record = (await readRunRecord(dir))!;
    await writeFile(path.join(dir, RUN_FILES.record), JSON.stringify({ ...record, state: "launching", process: undefined }));

    const handle = await runner().start(request(waitingProgram(2)));
    expect(handle.launched).toBe(false);
    expect((await readRunRecord(dir))?.process?.pid).toBe(record.process!.pid);
    await writeFile(path.join(dir, "go"), "");
    expect((await handle.result).exitCode).toBe(2);
    expect(await readLaunches(dir)).toHaveLength(1);
  });

  it("starts a run recorded but never launched, once", async () => {
    const first = runner();
    await first.start(request("print('hi')"));
    await until(() => existsSync(path.join(dir, RUN_FILES.exitStatus)));
    await sleep(100);
    // As if the executor died right after recording the launch: no launcher ever ran.
    const record = (await readRunRecord(dir))!;
    await rm(path.join(dir, RUN_FILES.launches));
    await writeFile(
      path.join(dir, RUN_FILES.record),
      JSON.stringify({ ...record, state: "launching", process: undefined, result: undefined, launchId: "never-started" }),
    );
    const handle = await runner().start(request("print('hi')"));
    expect(handle.launched).toBe(true);
    expect((await handle.result).stdoutTail).toBe("hi");
    expect(await readLaunches(dir)).toHaveLength(1);
  });

  it("keeps the record and the launches across a re-run of another program", async () => {
    const local = runner();
    await local.run(request("print('first')"));
    const result = await local.run(request("print('second')"));
    expect(result.stdoutTail).toBe("second");
    expect((await readLaunches(dir)).length).toBe(2);
    expect(await readFile(path.join(dir, "stdout.log"), "utf8")).toBe("second\n");
  });

  it("queues runs past its capacity, recorded, and a restarted runner starts a queued one once", async () => {
    const local = runner({ maxConcurrentRuns: 1 });
    const first = await local.start(request(waitingProgram(0)));
    const second = await local.start(request("print('second')", { iteration: 2 }));
    expect([first.queued, second.queued]).toEqual([false, true]);
    const secondDir = workspace.iterationDir(2);
    // Recorded before start returned, not launched while the first runs.
    expect((await readRunRecord(secondDir))?.state).toBe("launching");
    await startedRunning();
    await sleep(300);
    expect(await readLaunches(secondDir)).toHaveLength(0);
    await writeFile(path.join(dir, "go"), "");
    expect((await first.result).exitCode).toBe(0);
    await second.started;
    expect((await second.result).stdoutTail).toBe("second");
    expect(await readLaunches(secondDir)).toHaveLength(1);

    // A run queued when its executor died is started by the next one, once.
    const dying = runner({ maxConcurrentRuns: 1 });
    const busy = await dying.start(request(waitingProgram(0), { iteration: 3 }));
    const queued = await dying.start(request("print('third')", { iteration: 4 }));
    expect([busy.queued, queued.queued]).toEqual([false, true]);
    dying.detach();
    const next = runner({ maxConcurrentRuns: 1 });
    await writeFile(path.join(workspace.iterationDir(3), "go"), "");
    const adopted = await next.start(request(waitingProgram(0), { iteration: 3 }));
    const restarted = await next.start(request("print('third')", { iteration: 4 }));
    expect((await adopted.result).exitCode).toBe(0);
    expect((await restarted.result).stdoutTail).toBe("third");
    expect(await readLaunches(workspace.iterationDir(4))).toHaveLength(1);
  });
});
