import OpenAI from "openai";
import { z } from "zod";
import { InvalidInputError, UnavailableError } from "@mlzero/errors";

/** How one agent talks to the model: any model name the endpoint serves (no allow-list). */
export interface ChatProfile {
  model: string;
  temperature?: number;
  maxTokens?: number;
  /** Per request (default 60 s). */
  timeoutMs?: number;
}

/** Dollars per million tokens, by model; a model without a price costs 0 (e.g. a local vLLM). */
export type PriceTable = Record<string, { inputPerMillion: number; outputPerMillion: number }>;

/** Where chat completions come from: any OpenAI-compatible `/v1/chat/completions`. */
export interface ChatClientOptions {
  baseURL: string;
  apiKey?: string;
  /** Retries of 429, 5xx and timeouts, with the client's backoff (default 3). */
  maxRetries?: number;
  prices?: PriceTable;
}

/** One message of a conversation. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** What a call used. */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
}

/** A model's answer and what it cost. */
export interface Completion<T> {
  value: T;
  usage: Usage;
  /** Calls it took: 2 when the first answer had to be repaired. */
  calls: number;
}

/** Chat completions, plain or validated against a schema. */
export interface ChatClient {
  complete(profile: ChatProfile, messages: ChatMessage[]): Promise<Completion<string>>;
  /**
   * An answer that must be JSON matching `schema` (the messages must ask for
   * JSON: OpenAI's JSON mode refuses a conversation that does not). An
   * invalid answer gets one repair attempt (the model sees its answer and
   * what was wrong with it); a second invalid answer is an error naming the
   * problem.
   */
  structured<T>(profile: ChatProfile, messages: ChatMessage[], schema: z.ZodType<T>): Promise<Completion<T>>;
}

/** Creates a chat client over the `openai` package. */
export function createChatClient(options: ChatClientOptions): ChatClient {
  const client = new OpenAI({ baseURL: options.baseURL, apiKey: options.apiKey || "unused", maxRetries: options.maxRetries ?? 3 });
  const prices = options.prices ?? {};

  async function call(profile: ChatProfile, messages: ChatMessage[], json: boolean): Promise<{ text: string; usage: Usage }> {
    if (messages.length === 0) throw new InvalidInputError("a chat needs at least one message");
    let response;
    try {
      response = await client.chat.completions.create(
        {
          model: profile.model,
          messages,
          temperature: profile.temperature,
          max_tokens: profile.maxTokens,
          ...(json ? { response_format: { type: "json_object" as const } } : {}),
        },
        { timeout: profile.timeoutMs ?? 60_000 },
      );
    } catch (error) {
      throw new UnavailableError(`chat endpoint ${options.baseURL} (model ${profile.model}) failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const text = response.choices?.[0]?.message?.content;
    if (typeof text !== "string") throw new UnavailableError(`chat endpoint ${options.baseURL} answered without a message`);
    const promptTokens = response.usage?.prompt_tokens ?? 0;
    const completionTokens = response.usage?.completion_tokens ?? 0;
    const price = prices[profile.model];
    const costUsd = price ? (promptTokens * price.inputPerMillion + completionTokens * price.outputPerMillion) / 1e6 : 0;
    return { text, usage: { promptTokens, completionTokens, costUsd } };
  }

  return {
    async complete(profile, messages) {
      const { text, usage } = await call(profile, messages, false);
      return { value: text, usage, calls: 1 };
    },

    async structured(profile, messages, schema) {
      const first = await call(profile, messages, true);
      const checked = parse(first.text, schema);
      if (checked.ok) return { value: checked.value, usage: first.usage, calls: 1 };
      const repair: ChatMessage[] = [
        ...messages,
        { role: "assistant", content: first.text },
        { role: "user", content: `That answer is not valid: ${checked.problem}. Answer again with only the corrected JSON.` },
      ];
      const second = await call(profile, repair, true);
      const usage = addUsage(first.usage, second.usage);
      const again = parse(second.text, schema);
      if (again.ok) return { value: again.value, usage, calls: 2 };
      throw new InvalidAnswerError(`the model's answer was invalid twice: ${again.problem}`, usage, 2);
    },
  };
}

/** The model answered, but invalidly twice: what the two calls used still counts against the task's budget. */
export class InvalidAnswerError extends UnavailableError {
  constructor(
    message: string,
    readonly usage: Usage,
    readonly calls: number,
  ) {
    super(message);
    this.name = "InvalidAnswerError";
  }
}

/** Two calls' usage together. */
export function addUsage(left: Usage, right: Usage): Usage {
  return {
    promptTokens: left.promptTokens + right.promptTokens,
    completionTokens: left.completionTokens + right.completionTokens,
    costUsd: left.costUsd + right.costUsd,
  };
}

function parse<T>(text: string, schema: z.ZodType<T>): { ok: true; value: T } | { ok: false; problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, problem: "it is not JSON" };
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, problem: result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ") };
}
