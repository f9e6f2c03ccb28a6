import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readExitStatus, readLaunches } from "./run-record.js";
import { launcherScript } from "./stage-iteration.js";

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
