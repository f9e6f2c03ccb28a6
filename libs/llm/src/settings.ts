import { ConfigError, parseEnv } from "@mlzero/config";
import { z } from "zod";
import { createChatClient, type ChatClient, type ChatProfile, type PriceTable } from "./chat.js";

/** The agents that think with the LLM, each with its own profile. */
export const AGENTS = ["perception", "tool-selection", "retrieval", "coder", "verdict", "error-analysis"] as const;
export type Agent = (typeof AGENTS)[number];

/** Where the agents' LLM is and how each agent calls it; undefined settings mean the offline planner. */
export interface LlmSettings {
  baseURL: string;
  apiKey?: string;
  profiles: Record<Agent, ChatProfile>;
  prices: PriceTable;
}

const profileSchema = z.strictObject({
  model: z.string().min(1).optional(),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.number().int().positive().optional(),
  timeoutMs: z.number().int().positive().optional(),
});

const jsonOf = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((text, context) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        context.addIssue({ code: "custom", message: "not JSON" });
        return z.NEVER;
      }
    })
    .pipe(schema);

/**
 * The LLM settings shared by every service with agents, from the environment:
 * `MLZERO_LLM_URL` (any OpenAI-compatible endpoint: vLLM, Ollama, OpenAI, a
 * gateway), `MLZERO_LLM_API_KEY`, `MLZERO_LLM_MODEL` (every agent's model
 * unless its profile says otherwise), `MLZERO_LLM_PROFILES` (JSON: agent →
 * {model, temperature, maxTokens, timeoutMs}) and `MLZERO_LLM_PRICES` (JSON:
 * model → {inputPerMillion, outputPerMillion} in dollars). Without
 * `MLZERO_LLM_URL` the offline planner runs: undefined.
 */
export function loadLlmSettings(env: NodeJS.ProcessEnv): LlmSettings | undefined {
  const config = parseEnv(
    {
      MLZERO_LLM_URL: z.url({ protocol: /^https?$/ }).optional(),
      MLZERO_LLM_API_KEY: z.string().min(1).optional(),
      MLZERO_LLM_MODEL: z.string().min(1).optional(),
      MLZERO_LLM_PROFILES: jsonOf(z.partialRecord(z.enum(AGENTS), profileSchema)).optional(),
      MLZERO_LLM_PRICES: jsonOf(
        z.record(z.string().min(1), z.strictObject({ inputPerMillion: z.number().min(0), outputPerMillion: z.number().min(0) })),
      ).optional(),
    },
    env,
  );
  if (!config.MLZERO_LLM_URL) return undefined;
  const profiles = {} as Record<Agent, ChatProfile>;
  for (const agent of AGENTS) {
    const { model = config.MLZERO_LLM_MODEL, ...rest } = config.MLZERO_LLM_PROFILES?.[agent] ?? {};
    if (!model)
      throw new ConfigError(
        `invalid configuration: MLZERO_LLM_URL is set but agent "${agent}" has no model: set MLZERO_LLM_MODEL or its profile in MLZERO_LLM_PROFILES`,
      );
    profiles[agent] = { model, ...rest };
  }
  return {
    baseURL: config.MLZERO_LLM_URL,
    ...(config.MLZERO_LLM_API_KEY ? { apiKey: config.MLZERO_LLM_API_KEY } : {}),
    profiles,
    prices: config.MLZERO_LLM_PRICES ?? {},
  };
}

/** The chat client the settings describe. */
export function chatClientFor(settings: LlmSettings): ChatClient {
  return createChatClient({ baseURL: settings.baseURL, ...(settings.apiKey ? { apiKey: settings.apiKey } : {}), prices: settings.prices });
}
