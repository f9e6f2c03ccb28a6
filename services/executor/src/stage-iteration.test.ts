import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { ProgramSchema } from "@mlzero/proto";
import { taskWorkspace } from "@mlzero/workspace";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readExitStatus, readLaunches } from "./run-record.js";
import { launcherScript, stageIteration } from "./stage-iteration.js";

const label = { launchId: "6f1c0c52-launch", candidateId: "iter-001-lightgbm" };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "launcher-test-"));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

async function runLauncher(launcher: string): Promise<void> {
  await writeFile(path.join(dir, "run.sh"), launcherScript(launcher, label));
  await promisify(execFile)("/bin/sh", ["run.sh"], { cwd: dir }).catch(() => undefined);
}

describe("launcherScript", () => {
  it("execs a simple command in a subshell so the status is the program's own", () => {
    expect(launcherScript("python main.py --fast", label)).toContain(
      "\n(exec python main.py --fast) > stdout.log 2> stderr.log < /dev/null\n",
    );
    expect(launcherScript("  ", label)).toContain("\n(exec python main.py) > stdout.log");
  });

  it("runs anything with shell syntax as written", () => {
    expect(launcherScript("pip list > pip.txt; python main.py", label)).toContain(
      "\n(\npip list > pip.txt; python main.py\n) > stdout.log",
    );
  });

  it("records the launch, the logs and the exit status", async () => {
    await runLauncher("echo out; echo err >&2; exit 3");
    expect(await readFile(path.join(dir, "stdout.log"), "utf8")).toBe("out\n");
    expect(await readFile(path.join(dir, "stderr.log"), "utf8")).toBe("err\n");
    expect(await readExitStatus(dir)).toMatchObject({ exitCode: 3, signal: "" });
    await runLauncher("true");
    const launches = await readLaunches(dir);
    expect(launches.map((launch) => [launch.launchId, launch.candidateId])).toEqual([
      [label.launchId, label.candidateId],
      [label.launchId, label.candidateId],
    ]);
    expect(launches.every((launch) => launch.pid > 0)).toBe(true);
    expect(await readExitStatus(dir)).toMatchObject({ exitCode: 0, signal: "" });
  });

  it("reads a program a signal ended as that signal", async () => {
    await runLauncher("sh -c 'kill -KILL $$'");
    expect(await readExitStatus(dir)).toMatchObject({ exitCode: -1, signal: "SIGKILL" });
  });
});

describe("stageIteration", () => {
  it("leaves a clean, complete folder when two executors stage the same iteration at once", async () => {
    const workspace = taskWorkspace(dir, "acme", "task-1");
    const program = create(ProgramSchema, { code: "print('hi')\n", launcher: "python main.py" });
    for (let round = 0; round < 50; round++) {
      const [first] = await Promise.all([stageIteration(workspace, 1, program, label), stageIteration(workspace, 1, program, label)]);
      await writeFile(path.join(first.outputsDir, "stale.csv"), "left by the last run\n");
    }
    await stageIteration(workspace, 1, program, label);
    expect((await readdir(workspace.iterationDir(1))).sort()).toEqual(["main.py", "outputs", "run.sh", "tmp"]);
    expect(await readdir(path.join(workspace.iterationDir(1), "outputs"))).toEqual([]);
  });
});
