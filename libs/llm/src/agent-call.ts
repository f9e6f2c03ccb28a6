import type { LlmUsage } from "@mlzero/proto";
import type { z } from "zod";
import { InvalidAnswerError, type ChatClient, type ChatMessage, type ChatProfile } from "./chat.js";
import { usageOf } from "./usage.js";

/**
 * An agent's answer with what it cost, or why there is none (the caller's
 * own result then stands) with what the failed calls still cost.
 */
export type AgentResult<T> =
  | { ok: true; answer: T; usage: LlmUsage }
  | {
      ok: false;
      /** The error's message. */
      problem: string;
      /** An answer invalid twice still cost its calls: they count against the task's budget. */
      spent: LlmUsage | undefined;
      /** The error itself, for a caller that wraps it. */
      error?: unknown;
    };

/** Where {@link askAgent} warns of a failed call (a @mlzero/logging Logger is one). */
export interface AgentLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** One structured call of {@link askAgent}. */
export interface AgentCall<T> {
  /** The agent's name, as in LlmSettings profiles and LlmUsage. */
  agent: string;
  profile: ChatProfile;
  messages: ChatMessage[];
  schema: z.ZodType<T>;
  /** Warned when the call fails, with the agent, the prompt and the error. */
  logger?: AgentLogger | undefined;
  /** The prompt template's id, for that warning. */
  prompt?: string;
  /** That warning's message, e.g. "LLM agent failed; the rules stand". */
  failure?: string;
}

/**
 * Asks an agent for an answer that `schema` validates, as {@link ChatClient.structured}
 * does, and never throws: a failure (the endpoint down after its retries, an answer invalid
 * twice) is returned as `ok: false` with its message and the usage it spent, and warned of.
 */
export async function askAgent<T>(chat: ChatClient, call: AgentCall<T>): Promise<AgentResult<T>> {
  try {
    const completion = await chat.structured(call.profile, call.messages, call.schema);
    return { ok: true, answer: completion.value, usage: usageOf(call.agent, completion) };
  } catch (error) {
    const problem = error instanceof Error ? error.message : String(error);
    const spent = error instanceof InvalidAnswerError ? usageOf(call.agent, error) : undefined;
    call.logger?.warn({ agent: call.agent, prompt: call.prompt, error: problem }, call.failure ?? "LLM agent failed");
    return { ok: false, problem, spent, error };
  }
}
