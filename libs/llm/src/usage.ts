import { create } from "@bufbuild/protobuf";
import { LlmUsageSchema, type LlmUsage } from "@mlzero/proto";
import type { Completion } from "./chat.js";

/** One call's usage as the proto message, under its agent's name. */
export function usageOf(agent: string, completion: Pick<Completion<unknown>, "usage" | "calls">): LlmUsage {
  return create(LlmUsageSchema, {
    agent,
    calls: completion.calls,
    promptTokens: BigInt(completion.usage.promptTokens),
    completionTokens: BigInt(completion.usage.completionTokens),
    costUsd: completion.usage.costUsd,
  });
}

/** Usage summed per agent, agents in the order first seen. */
export function sumUsage(usages: Iterable<LlmUsage>): LlmUsage[] {
  const byAgent = new Map<string, LlmUsage>();
  for (const usage of usages) {
    const total = byAgent.get(usage.agent) ?? create(LlmUsageSchema, { agent: usage.agent });
    total.calls += usage.calls;
    total.promptTokens += usage.promptTokens;
    total.completionTokens += usage.completionTokens;
    total.costUsd += usage.costUsd;
    byAgent.set(usage.agent, total);
  }
  return [...byAgent.values()];
}

/** Tokens (prompt + completion) and dollars of a list of usages. */
export function usageTotals(usages: Iterable<LlmUsage>): { tokens: number; costUsd: number } {
  let tokens = 0;
  let costUsd = 0;
  for (const usage of usages) {
    tokens += Number(usage.promptTokens + usage.completionTokens);
    costUsd += usage.costUsd;
  }
  return { tokens, costUsd };
}
