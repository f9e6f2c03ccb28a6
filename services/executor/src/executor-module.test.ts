import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { createInProcessBus, newEnvelope, type InProcessBus } from "@mlzero/bus";
import { createSilentLogger } from "@mlzero/logging";
import {
  BudgetSchema,
  CodeGeneratedSchema,
  ProgramSchema,
  TaskContextSchema,
  TaskSpecSchema,
  type CodeGenerated,
  type ExecutionFinished,
  type ExecutionStarted,
} from "@mlzero/proto";
import { taskWorkspace } from "@mlzero/workspace";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createExecutorModule, type ExecutorModule } from "./executor-module.js";
import { createLocalRunner, type LocalRunner } from "./local-runner.js";
import { readLaunches, readRunRecord, RUN_FILES, writeRunRecord } from "./run-record.js";

// An executor "process" is a bus, a runner and a module. A crash is played by
// detaching the runner (its runs keep going, untouched, as a kill -9 leaves
// them) and dropping the bus; the restarted executor is a new trio on the
// same workspace, which gets the uncommitted CodeGenerated again and/or runs
// its start step.

const pythonBin = path.resolve(import.meta.dirname, "../../../.venv/bin/python");
const logger = createSilentLogger();

interface ExecutorProcess {
  bus: InProcessBus;
  runner: LocalRunner;
  module: ExecutorModule;
  started: ExecutionStarted[];
  finished: ExecutionFinished[];
}

let root: string;
let dir: string;
const processes: ExecutorProcess[] = [];

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "executor-module-"));
  const workspace = taskWorkspace(root, "acme", "task-1");
  dir = workspace.iterationDir(1);
  await mkdir(workspace.inputDir, { recursive: true });
});

afterEach(async () => {
  await writeFile(path.join(dir, "go"), "").catch(() => undefined);
  for (const each of processes.splice(0)) {
    each.runner.detach();
    await each.bus.close();
  }
  await rm(root, { recursive: true, force: true });
});

async function startExecutor(): Promise<ExecutorProcess> {
  const bus = createInProcessBus({ logger, retryBackoffMs: 1 });
  const runner = createLocalRunner({ pythonBin, memorySampleIntervalMs: 50, killGraceMs: 500, progressIntervalMs: 100 });
  const module = createExecutorModule({ bus, logger, workspaceRoot: root, runner, publishRetryMs: 1 });
  const started: ExecutionStarted[] = [];
  const finished: ExecutionFinished[] = [];
  await bus.subscribe(module.pipeline!);
  await bus.subscribe({
    group: "observer",
    handlers: {
      ExecutionStarted: async (event) => void started.push(event),
      ExecutionFinished: async (event) => void finished.push(event),
    },
  });
  const executor = { bus, runner, module, started, finished };
  processes.push(executor);
  return executor;
}

/** Kills the executor as kill -9 would: its runs go on, nothing of it reports any more. */
async function crash(executor: ExecutorProcess): Promise<void> {
  executor.runner.detach();
  await executor.bus.close();
}

function codeGenerated(code: string, candidateId = "iter-001-test"): CodeGenerated {
  return create(CodeGeneratedSchema, {
    envelope: newEnvelope({ taskId: "task-1", tenant: "acme", iteration: 1 }),
    task: create(TaskContextSchema, {
      spec: create(TaskSpecSchema, {
        budget: create(BudgetSchema, { iterationTimeLimit: durationFromMs(60_000), memoryLimitBytes: 2n ** 31n }),
      }),
    }),
    program: create(ProgramSchema, { candidateId, tool: "test", code, launcher: "python main.py" }),
  });
}

/** Says it started, waits for a file `go`, then exits with `code`. */
function waitingProgram(code: number): string {
  return [
    "import os, sys, time",
    "print('started', flush=True)",
    "while not os.path.exists('go'): time.sleep(0.02)",
    "print('done', flush=True)",
    `sys.exit(${code})`,
  ].join("\n");
}

async function until(test: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(20);
  }
}

const programStarted = () =>
  until(() => existsSync(path.join(dir, "stdout.log")) && readFileSync(path.join(dir, "stdout.log"), "utf8").includes("started"));

describe("executor module across a crash", () => {
  it("adopts the run when CodeGenerated is redelivered after a restart: one launch, one ExecutionFinished", async () => {
    const event = codeGenerated(waitingProgram(3));
    const first = await startExecutor();
    await first.bus.publish("CodeGenerated", event);
    await programStarted();
    await first.bus.whenIdle();
    expect(first.started).toHaveLength(1);
    await crash(first);

    const second = await startExecutor();
    await second.bus.publish("CodeGenerated", event); // the uncommitted event, again
    await second.bus.whenIdle();
    await writeFile(path.join(dir, "go"), "");
    await until(() => second.finished.length > 0);
    await sleep(200);
    await second.bus.whenIdle();

    // Adopted, not launched: announced again under the same id, which consumers drop.
    expect(second.started.map((started) => started.envelope?.eventId)).toEqual(first.started.map((started) => started.envelope?.eventId));
    expect(second.finished).toHaveLength(1);
    expect(second.finished[0]!.result).toMatchObject({ exitCode: 3, interrupted: false, stdoutTail: "started\ndone" });
    expect(second.finished[0]!.program?.candidateId).toBe("iter-001-test");
    expect(await readLaunches(dir)).toHaveLength(1);
    expect((await readRunRecord(dir))?.state).toBe("reported");
  });

  it("finishes what it finds at start: a live run, and then no second report on redelivery", async () => {
    const event = codeGenerated(waitingProgram(0));
    const first = await startExecutor();
    await first.bus.publish("CodeGenerated", event);
    await programStarted();
    await crash(first);

    const second = await startExecutor();
    await second.module.start();
    await second.module.start(); // once, however often it is called
    await writeFile(path.join(dir, "go"), "");
    await until(() => second.finished.length > 0);
    await second.module.stop!();
    await second.bus.publish("CodeGenerated", event); // a late redelivery
    await second.bus.whenIdle();
    expect(second.finished).toHaveLength(1);
    expect(second.finished[0]!.result?.exitCode).toBe(0);
    expect(await readLaunches(dir)).toHaveLength(1);
  });

  it("reports at start a run that finished while no executor was alive", async () => {
    const first = await startExecutor();
    await first.bus.publish("CodeGenerated", codeGenerated(waitingProgram(4)));
    await programStarted();
    await crash(first);
    await writeFile(path.join(dir, "go"), "");
    await until(() => existsSync(path.join(dir, RUN_FILES.exitStatus)));
    await sleep(200);

    const second = await startExecutor();
    await second.module.start();
    await until(() => second.finished.length > 0);
    expect(second.finished[0]!.result).toMatchObject({ exitCode: 4, interrupted: false, stdoutTail: "started\ndone" });
    expect(await readLaunches(dir)).toHaveLength(1);
  });

  it("launches again at start a run whose process tree vanished, and reports the relaunch once", async () => {
    const first = await startExecutor();
    await first.bus.publish("CodeGenerated", codeGenerated(waitingProgram(0)));
    await programStarted();
    await crash(first);
    // The executor and its program die together, as when their machine fails.
    const lost = (await readRunRecord(dir))!;
    process.kill(-lost.process!.pid, "SIGKILL");
    await sleep(300);

    const second = await startExecutor();
    await second.module.start();
    await until(async () => (await readLaunches(dir)).length === 2);
    await writeFile(path.join(dir, "go"), "");
    await until(() => second.finished.length > 0);
    await sleep(200);
    await second.bus.whenIdle();
    expect(second.finished).toHaveLength(1);
    expect(second.finished[0]!.result).toMatchObject({ interrupted: false, exitCode: 0 });
    expect(second.started.map((event) => event.envelope?.eventId)).toEqual([(await readRunRecord(dir))!.launchId]);
    expect((await readLaunches(dir)).map((launch) => launch.launchId)[0]).toBe(lost.launchId);
  });

  it("re-reports with the same event id and result when it died between publishing and recording the report", async () => {
    const first = await startExecutor();
    await first.bus.publish("CodeGenerated", codeGenerated("print('hi')"));
    await until(() => first.finished.length > 0);
    await first.bus.whenIdle();
    await until(() => readFileSync(path.join(dir, RUN_FILES.record), "utf8").includes('"reported"'));
    await crash(first);
    // Undo the last write, as if the crash came just before it.
    const record = (await readRunRecord(dir))!;
    await writeRunRecord(dir, { ...record, state: "finished" });

    const second = await startExecutor();
    await second.module.start();
    await until(() => second.finished.length > 0);
    expect(second.finished[0]!.envelope?.eventId).toBe(first.finished[0]!.envelope?.eventId);
    expect(second.finished[0]!.result).toEqual(first.finished[0]!.result);
    expect(await readLaunches(dir)).toHaveLength(1);
  });
});

describe("executor module under redelivery", () => {
  it("runs an iteration once however often its CodeGenerated comes, also with another program", async () => {
    const executor = await startExecutor();
    const event = codeGenerated(waitingProgram(0));
    await executor.bus.publish("CodeGenerated", event);
    await executor.bus.publish("CodeGenerated", event);
    await programStarted();
    // The coder generated the iteration again (after its own crash): other code, maybe another candidate.
    await executor.bus.publish("CodeGenerated", codeGenerated(waitingProgram(0) + "\n# regenerated", "iter-001-other"));
    await executor.bus.whenIdle();
    await writeFile(path.join(dir, "go"), "");
    await until(() => executor.finished.length > 0);
    await sleep(200);
    await executor.bus.publish("CodeGenerated", event);
    await executor.bus.whenIdle();

    expect(executor.started).toHaveLength(1);
    expect(executor.finished).toHaveLength(1);
    expect(executor.finished[0]!.program?.code).toBe(waitingProgram(0));
    expect(await readLaunches(dir)).toHaveLength(1);
  });
});
