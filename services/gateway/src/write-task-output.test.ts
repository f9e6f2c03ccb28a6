import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { TaskFinishedSchema, TaskSchema, TaskState } from "@mlzero/proto";
import { taskWorkspace } from "@mlzero/workspace";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeTaskOutput } from "./write-task-output.js";

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "task-output-"));
});
afterEach(async () => rm(root, { recursive: true, force: true }));

describe("writeTaskOutput", () => {
  it("swaps in a complete folder, clearing what an interrupted write left", async () => {
    const workspace = taskWorkspace(root, "default", "t1");
    await mkdir(workspace.iterationDir(1), { recursive: true });
    await writeFile(path.join(workspace.iterationDir(1), "main.py"), "print(1)\n");
    // A previous write that a crash cut short: a half-built folder and an old one set aside.
    await mkdir(workspace.outputDir, { recursive: true });
    await writeFile(path.join(workspace.outputDir, "stale.txt"), "");
    await mkdir(`${workspace.outputDir}.staging-dead`);
    await mkdir(`${workspace.outputDir}.previous-dead`);

    const output = await writeTaskOutput({
      workspace,
      task: create(TaskSchema, { taskId: "t1" }),
      finished: create(TaskFinishedSchema, { state: TaskState.FAILED, reason: "gave up" }),
      context: undefined,
      timings: { perception: 0, coding: 0, execution: 0, analysis: 0 },
    });

    expect(output).toEqual({ outputDir: workspace.outputDir, predictionsFile: "" });
    expect((await readdir(workspace.outputDir)).sort()).toEqual(["iterations", "report.json", "report.md"]);
    expect(await readdir(path.join(workspace.outputDir, "iterations", "iter-001"))).toEqual(["main.py"]);
    expect((await readdir(workspace.taskDir)).sort()).toEqual(["iter-001", "output"]);
  });
});
