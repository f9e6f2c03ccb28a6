import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { TaskSchema, TaskState } from "@mlzero/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSystem } from "../support/embedded.js";
import { generateSpeciesTask, type GeneratedTask } from "../support/generate-tasks.js";
import { runCli } from "../support/run-cli.js";
import { describeRun, expectOneLineError, freePort } from "./cli-helpers.js";

// The gateway commands as a user runs them: the built CLI in its own process,
// talking gRPC to a real gateway. The six services run embedded in this test
// process, each serving gRPC, so submitted tasks really progress.

describe("mlzero submit, watch, status, ls, cancel and fetch against a gateway over gRPC", () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let root: string;
  let data: GeneratedTask;
  let address: string;
  /** The task submit --wait ran to success. */
  let succeeded: string;

  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    runCli(args, { timeoutMs: 300_000, env: { MLZERO_GATEWAY_ADDRESS: address, ...env } });

  beforeAll(async () => {
    system = await startTestSystem();
    address = system.addresses.gateway!;
    root = await mkdtemp(path.join(os.tmpdir(), "mlzero-cli-"));
    data = await generateSpeciesTask(root, 5, 600);
  });

  afterAll(async () => {
    await system?.stop();
    for (const dir of [root, system?.workspaceRoot]) if (dir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  });

  it("submit --wait follows a task to success and reports its output folder", async () => {
    const result = await cli(["submit", data.inputDir, "--wait", "--time-limit", "300", "--iteration-time-limit", "120"]);
    expect(result.code, describeRun(result)).toBe(0);
    succeeded = /task (\S+) started/.exec(result.stderr)?.[1] ?? "";
    expect(succeeded, describeRun(result)).not.toBe("");
    // Progress went to stderr, a line per stage, without a terminal.
    expect(result.stderr).toMatch(/\] perceiving/);
    expect(result.stdout).toMatch(/^succeeded with \S+ in \d+ iteration\(s\)/);
    const predictions = /^predictions: (.+)$/m.exec(result.stdout)?.[1];
    const output = /^output: (.+)$/m.exec(result.stdout)?.[1];
    expect(predictions && existsSync(predictions), describeRun(result)).toBe(true);
    expect(output && existsSync(path.join(output, "report.md")), describeRun(result)).toBe(true);
    expect(path.dirname(predictions!)).toBe(output);
    console.info(`submit --wait: ${(result.wallMs / 1000).toFixed(1)} s`);
  }, 300_000);

  it("status prints a readable summary, or the Task as JSON", async () => {
    const text = await cli(["status", succeeded]);
    expect(text.code, describeRun(text)).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^task\\s+${succeeded}$`, "m"));
    expect(text.stdout).toMatch(/^state\s+succeeded$/m);
    expect(text.stdout).toMatch(/^score\s+\S+ \d\.\d{4}$/m);
    expect(text.stdout).toMatch(/^output\s+\//m);
    expect(text.stdout).toMatch(/^iterations:$/m);
    expect(text.stdout).toMatch(/^\s+1\s+\S+\s+success\s/m);

    const json = await cli(["status", succeeded, "--json"]);
    expect(json.code, describeRun(json)).toBe(0);
    const parsed = JSON.parse(json.stdout) as { taskId: string; state: string; outputDir: string };
    expect(parsed.state).toBe("TASK_STATE_SUCCEEDED");
    // It is the protobuf JSON mapping: it reads back as a Task.
    const task = fromJson(TaskSchema, parsed as unknown as JsonValue);
    expect(task.taskId).toBe(succeeded);
    expect(task.state).toBe(TaskState.SUCCEEDED);
    expect(existsSync(task.outputDir)).toBe(true);
  });

  it("watch of a finished task replays its updates and exits with its outcome", async () => {
    const replay = await cli(["watch", succeeded]);
    expect(replay.code, describeRun(replay)).toBe(0);
    expect(replay.stderr).toMatch(/\] perceiving/);
    expect(replay.stderr).toMatch(/\] executing/);
    expect(replay.stdout).toMatch(/^succeeded with /);

    // After the last sequence there is nothing left to replay: only the outcome.
    const { task } = await system.tasks.get({ taskId: succeeded });
    const after = await cli(["watch", succeeded, "--after", String(task!.sequence)]);
    expect(after.code, describeRun(after)).toBe(0);
    expect(after.stderr).not.toMatch(/\] perceiving/);
    expect(after.stdout).toMatch(/^succeeded with /);
  });

  it("cancel ends a running task, and watch then exits 1 with the reason", async () => {
    const submit = () => cli(["submit", data.inputDir, "--time-limit", "300", "--idempotency-key", "cancel-test"]);
    const submitted = await submit();
    expect(submitted.code, describeRun(submitted)).toBe(0);
    // Without --wait, stdout is the task id alone, for scripts.
    const taskId = submitted.stdout.trim();
    expect(taskId).toMatch(/^\S+$/);
    // A repeat with the same idempotency key is the same task.
    expect((await submit()).stdout.trim()).toBe(taskId);

    const cancelled = await cli(["cancel", taskId, "--reason", "changed my mind"]);
    expect(cancelled.code, describeRun(cancelled)).toBe(0);
    expect(cancelled.stdout).toMatch(`cancel requested for task ${taskId}`);

    const watched = await cli(["watch", taskId]);
    expect(watched.code, describeRun(watched)).toBe(1);
    expect(watched.stderr).toMatch(`task ${taskId} cancelled: changed my mind`);
    expect((await system.tasks.get({ taskId })).task?.state).toBe(TaskState.CANCELLED);

    // A finished task is left as it is.
    const again = await cli(["cancel", succeeded]);
    expect(again.code, describeRun(again)).toBe(0);
    expect(again.stdout).toMatch("already succeeded");
    expect((await system.tasks.get({ taskId: succeeded })).task?.state).toBe(TaskState.SUCCEEDED);
  });

  it("fetch streams a task's predictions, program, reports and logs to stdout or a file", async () => {
    const { task } = await system.tasks.get({ taskId: succeeded });
    const output = task!.outputDir;
    const predictions = await cli(["fetch", succeeded]);
    expect(predictions.code, describeRun(predictions)).toBe(0);
    expect(predictions.stdout).toBe(await readFile(path.join(output, task!.predictionsFile), "utf8"));
    expect(predictions.stderr).toBe("");

    const program = await cli(["fetch", succeeded, "--artifact", "program"]);
    expect(program.stdout).toBe(await readFile(path.join(output, "program.py"), "utf8"));
    const report = await cli(["fetch", succeeded, "--artifact", "report"]);
    expect(JSON.parse(report.stdout)).toMatchObject({ task_id: succeeded, status: "succeeded" });
    const markdown = await cli(["fetch", succeeded, "--artifact", "report-md"]);
    expect(markdown.stdout).toMatch(`# mlzero task ${succeeded}: succeeded`);
    const log = await cli(["fetch", succeeded, "--artifact", "logs", "--iteration", "1"]);
    expect(log.code, describeRun(log)).toBe(0);
    expect(log.stdout).toBe(await readFile(path.join(output, "iterations", "iter-001", "stdout.log"), "utf8"));

    // A big binary file arrives byte for byte, over many chunks, into --out (its latest iteration without --iteration).
    const iterations = (await readdir(path.join(output, "iterations"))).sort();
    const big = randomBytes(3 * 64 * 1024 + 77);
    await writeFile(path.join(output, "iterations", iterations.at(-1)!, "stderr.log"), big);
    const target = path.join(root, "stderr.log");
    const saved = await cli(["fetch", succeeded, "--artifact", "logs", "--stream", "stderr", "--out", target]);
    expect(saved.code, describeRun(saved)).toBe(0);
    expect(saved.stdout).toBe("");
    expect(saved.stderr).toBe(`${target}: ${big.length} bytes\n`);
    expect((await readFile(target)).equals(big)).toBe(true);
    expect((await readdir(root)).filter((name) => name.endsWith(".part"))).toEqual([]);

    // What is missing, or asked wrongly, is one line and exit 2; --out is left untouched.
    expectOneLineError(
      await cli(["fetch", succeeded, "--artifact", "logs", "--iteration", "99", "--out", target]),
      2,
      new RegExp(`^mlzero: error: task ${succeeded} has no stdout log for iteration 99$`),
    );
    expect((await readFile(target)).equals(big)).toBe(true);
    expectOneLineError(await cli(["fetch", succeeded, "--artifact", "model"]), 2, /--artifact must be one of predictions, program, report/);
    expectOneLineError(await cli(["fetch", succeeded, "--iteration", "1"]), 2, /only for --artifact logs/);
    expectOneLineError(await cli(["fetch", succeeded, "--artifact", "logs", "--stream", "both"]), 2, /--stream must be stdout or stderr/);
  });

  it("ls lists tasks newest first, as a table or JSON, by state and up to a limit", async () => {
    const newest = (await system.tasks.list({})).tasks[0]!.taskId;
    expect(newest).not.toBe(succeeded);

    const table = await cli(["ls"]);
    expect(table.code, describeRun(table)).toBe(0);
    const rows = table.stdout.trim().split("\n");
    expect(rows[0]).toMatch(/^TASK\s+STATE\s+ITER\s+TOOL\s+SCORE\s+CREATED\s+INPUT$/);
    expect(rows.slice(1).map((row) => row.split(/\s+/)[0])).toEqual([newest, succeeded]);
    expect(rows[2]).toMatch(/\ssucceeded\s/);

    const json = await cli(["ls", "--json"]);
    expect(json.code, describeRun(json)).toBe(0);
    const listed = (JSON.parse(json.stdout) as JsonValue[]).map((item) => fromJson(TaskSchema, item));
    expect(listed.map((task) => task.taskId)).toEqual([newest, succeeded]);

    const bySucceeded = await cli(["ls", "--state", "succeeded", "--json"]);
    expect((JSON.parse(bySucceeded.stdout) as { taskId: string }[]).map((task) => task.taskId)).toEqual([succeeded]);

    const limited = await cli(["ls", "--limit", "1"]);
    expect(
      limited.stdout
        .trim()
        .split("\n")
        .slice(1)
        .map((row) => row.split(/\s+/)[0]),
    ).toEqual([newest]);

    const none = await cli(["ls", "--state", "queued"]);
    expect(none.stdout.trim()).toBe("no tasks");
  });

  it("says in one line, with exit code 2, when no gateway address is given", async () => {
    const result = await cli(["ls"], { MLZERO_GATEWAY_ADDRESS: undefined });
    expectOneLineError(result, 2, /--gateway/);
    expect(result.stderr).toMatch(/MLZERO_GATEWAY_ADDRESS/);
    expectOneLineError(await cli(["status", "x"], { MLZERO_GATEWAY_ADDRESS: "no-port" }), 2, /MLZERO_GATEWAY_ADDRESS must be host:port/);
  });

  it("says in one line, with the address, when the gateway cannot be reached", async () => {
    const nowhere = `127.0.0.1:${await freePort()}`;
    for (const args of [["ls"], ["status", "x"], ["watch", "x"], ["fetch", "x"], ["submit", data.inputDir, "--wait"]]) {
      const result = await cli([...args, "--gateway", nowhere]);
      expectOneLineError(result, 2, new RegExp(`cannot reach the gateway at ${nowhere}`));
    }
  });

  it("says in one line, with exit code 2, what the gateway refused", async () => {
    for (const command of ["status", "watch", "cancel", "fetch"]) {
      expectOneLineError(await cli([command, "no-such-task"]), 2, /^mlzero: error: task no-such-task not found$/);
    }
    expectOneLineError(await cli(["submit", path.join(root, "missing")]), 2, /input folder .*missing does not exist/);
    expectOneLineError(await cli(["ls", "--state", "sleeping"]), 2, /--state must be one of queued, .*cancelled/);
    expectOneLineError(await cli(["submit"]), 2, /needs exactly one input folder/);
    expectOneLineError(await cli(["watch", "x", "--after", "last"]), 2, /--after must be a sequence number/);
  });
});
