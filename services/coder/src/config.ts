import { address, parseEnv } from "@mlzero/config";
import { z } from "zod";

/** The coder's LLM settings of its own; the endpoint and models are `@mlzero/llm`'s `loadLlmSettings`. */
const LLM_CODER_ENV = {
  // The LLM coder's prompt templates; unset: services/coder/prompts.
  MLZERO_CODER_PROMPTS_DIR: z.string().min(1).optional(),
};

/**
 * The coder's settings from the environment. The LLM's (`MLZERO_LLM_*`) are
 * `@mlzero/llm`'s `loadLlmSettings`: without `MLZERO_LLM_URL` the offline
 * planner writes every program.
 */
export function loadCoderConfig(env: NodeJS.ProcessEnv) {
  return parseEnv({ MLZERO_MEMORY_ADDRESS: address(), ...LLM_CODER_ENV }, env);
}

/** The part of {@link loadCoderConfig} that the LLM coder reads (for a coder that finds memory elsewhere, e.g. in process). */
export function loadLlmCoderConfig(env: NodeJS.ProcessEnv) {
  return parseEnv(LLM_CODER_ENV, env);
}
