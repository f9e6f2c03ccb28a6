import { UnavailableError } from "@mlzero/errors";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { askAgent, type AgentLogger } from "./agent-call.js";
import { InvalidAnswerError, type ChatClient, type Completion } from "./chat.js";

/** A chat client whose structured call answers `outcome` (a completion, or an error to throw). */
function chatAnswering(outcome: Completion<unknown> | Error): ChatClient {
  return {
    complete: () => Promise.reject(new Error("not used")),
    structured: <T>() => (outcome instanceof Error ? Promise.reject(outcome) : Promise.resolve(outcome as Completion<T>)),
  };
}

function recordingLogger(): AgentLogger & { warnings: [Record<string, unknown>, string][] } {
  const warnings: [Record<string, unknown>, string][] = [];
  return { warnings, warn: (fields, message) => warnings.push([fields, message]) };
}

const call = {
  agent: "verdict",
  profile: { model: "m" },
  messages: [{ role: "user" as const, content: "JSON" }],
  schema: z.object({ ok: z.boolean() }),
};

describe("askAgent", () => {
  it("returns the answer and its usage under the agent's name", async () => {
    const usage = { promptTokens: 10, completionTokens: 5, costUsd: 0.01 };
    const result = await askAgent(chatAnswering({ value: { ok: true }, usage, calls: 2 }), call);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.answer).toEqual({ ok: true });
    expect(result.usage).toMatchObject({ agent: "verdict", calls: 2, promptTokens: 10n, completionTokens: 5n, costUsd: 0.01 });
  });

  it("returns an answer invalid twice as a problem that still cost its calls, and warns", async () => {
    const logger = recordingLogger();
    const error = new InvalidAnswerError("not JSON", { promptTokens: 7, completionTokens: 3, costUsd: 0 }, 2);
    const result = await askAgent(chatAnswering(error), {
      ...call,
      logger,
      prompt: "verdict.v1",
      failure: "LLM agent failed; the rules stand",
    });
    expect(result).toMatchObject({ ok: false, problem: "not JSON", error, spent: { agent: "verdict", calls: 2, promptTokens: 7n } });
    expect(logger.warnings).toEqual([[{ agent: "verdict", prompt: "verdict.v1", error: "not JSON" }, "LLM agent failed; the rules stand"]]);
  });

  it("returns an unreachable endpoint as a problem that spent nothing", async () => {
    const result = await askAgent(chatAnswering(new UnavailableError("connection refused")), call);
    expect(result).toMatchObject({ ok: false, problem: "connection refused", spent: undefined });
  });
});
