import { describe, expect, it } from "vitest";
import { sumUsage, usageOf, usageTotals } from "./usage.js";

describe("LLM usage", () => {
  it("sums calls, tokens and cost per agent, agents in the order first seen", () => {
    const calls = [
      usageOf("coder", { usage: { promptTokens: 100, completionTokens: 50, costUsd: 0.01 }, calls: 2 }),
      usageOf("retrieval", { usage: { promptTokens: 10, completionTokens: 5, costUsd: 0 }, calls: 1 }),
      usageOf("coder", { usage: { promptTokens: 1, completionTokens: 2, costUsd: 0.005 }, calls: 1 }),
    ];
    const summed = sumUsage(calls);
    expect(summed.map((usage) => [usage.agent, usage.calls, usage.promptTokens, usage.completionTokens])).toEqual([
      ["coder", 3, 101n, 52n],
      ["retrieval", 1, 10n, 5n],
    ]);
    expect(summed[0]!.costUsd).toBeCloseTo(0.015);
    // Summing does not change its inputs (the gateway sums into a task's running total).
    expect(calls[0]!.calls).toBe(2);
    expect(usageTotals(summed)).toEqual({ tokens: 168, costUsd: summed[0]!.costUsd });
  });
});
