import { create } from "@bufbuild/protobuf";
import { LlmUsageSchema, TaskSchema, TaskState } from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import { llmUsageText, reportOutcome, statusText } from "./task-text.js";

const usage = (agent: string, calls: number, promptTokens: number, completionTokens: number, costUsd: number) =>
  create(LlmUsageSchema, { agent, calls, promptTokens: BigInt(promptTokens), completionTokens: BigInt(completionTokens), costUsd });

const withLlm = create(TaskSchema, {
  taskId: "t1",
  state: TaskState.SUCCEEDED,
  tool: "sklearn",
  llmUsage: [usage("perception", 1, 300, 40, 0.00046), usage("coder", 2, 4000, 1000, 0.008)],
});

/** What a command wrote to stdout and stderr. */
function capture() {
  const out = { stdout: "", stderr: "" };
  const stream = (key: "stdout" | "stderr") =>
    ({ write: (text: string) => ((out[key] += text), true) }) as unknown as NodeJS.WritableStream;
  return { out, io: { stdout: stream("stdout"), stderr: stream("stderr"), env: {} } };
}

describe("the LLM usage in a task's text", () => {
  it("status shows the totals and a row per agent", () => {
    const text = statusText(withLlm);
    expect(text).toMatch(/^llm\s+3 calls, 5340 tokens \(4300 prompt, 1040 completion\), \$0\.0085$/m);
    expect(text).toContain(
      [
        "llm usage:",
        "  AGENT       CALLS  PROMPT  COMPLETION  COST",
        "  perception  1      300     40          $0.0005",
        "  coder       2      4000    1000        $0.0080",
      ].join("\n"),
    );
  });

  it("a finished task's summary lists the agents; without an LLM it says nothing of one", () => {
    expect(llmUsageText(withLlm.llmUsage)).toBe(
      "llm: 3 calls, 5340 tokens (4300 prompt, 1040 completion), $0.0085\n" +
        "  AGENT       CALLS  PROMPT  COMPLETION  COST\n" +
        "  perception  1      300     40          $0.0005\n" +
        "  coder       2      4000    1000        $0.0080\n",
    );
    const { out, io } = capture();
    expect(reportOutcome(withLlm, io)).toBe(0);
    expect(out.stdout).toContain("llm: 3 calls");

    const offline = create(TaskSchema, { taskId: "t2", state: TaskState.SUCCEEDED, tool: "sklearn" });
    expect(llmUsageText(offline.llmUsage)).toBe("");
    expect(statusText(offline)).not.toMatch(/llm/);
  });
});
