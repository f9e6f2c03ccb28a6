import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { LlmUsageSchema, TaskFinishedSchema, TaskSchema, TaskState } from "@mlzero/proto";
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
    // The untrusted program swapped its log for a link: it is not copied (a reader of the output would follow it).
    await symlink("/etc/passwd", path.join(workspace.iterationDir(1), "stdout.log"));
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
    // The offline planner: no LLM usage, an empty list.
    const report = JSON.parse(await readFile(path.join(workspace.outputDir, "report.json"), "utf8"));
    expect(report.llm_usage).toEqual([]);
    expect(report.llm_totals).toEqual({ calls: 0, prompt_tokens: 0, completion_tokens: 0, tokens: 0, cost_usd: 0 });
    expect(await readFile(path.join(workspace.outputDir, "report.md"), "utf8")).toContain("- LLM: no calls\n");
  });

  it("reports the LLM usage per agent and in all", async () => {
    const workspace = taskWorkspace(root, "default", "t2");
    await mkdir(workspace.taskDir, { recursive: true });
    const usage = (agent: string, calls: number, promptTokens: number, completionTokens: number, costUsd: number) =>
      create(LlmUsageSchema, { agent, calls, promptTokens: BigInt(promptTokens), completionTokens: BigInt(completionTokens), costUsd });
    await writeTaskOutput({
      workspace,
      task: create(TaskSchema, { taskId: "t2", llmUsage: [usage("perception", 1, 300, 40, 0.001), usage("coder", 3, 9000, 1500, 0.02)] }),
      finished: create(TaskFinishedSchema, { state: TaskState.FAILED, reason: "gave up" }),
      context: undefined,
      timings: { perception: 0, coding: 0, execution: 0, analysis: 0 },
    });

    const report = JSON.parse(await readFile(path.join(workspace.outputDir, "report.json"), "utf8"));
    expect(report.llm_usage).toEqual([
      { agent: "perception", calls: 1, prompt_tokens: 300, completion_tokens: 40, cost_usd: 0.001 },
      { agent: "coder", calls: 3, prompt_tokens: 9000, completion_tokens: 1500, cost_usd: 0.02 },
    ]);
    expect(report.llm_totals).toEqual({ calls: 4, prompt_tokens: 9300, completion_tokens: 1540, tokens: 10840, cost_usd: 0.021 });
    expect(await readFile(path.join(workspace.outputDir, "report.md"), "utf8")).toContain(
      "- LLM: 4 calls, 10840 tokens (9300 prompt, 1540 completion), $0.0210: perception 1 call 340 tokens $0.0010, coder 3 calls 10500 tokens $0.0200\n",
    );
  });
});
