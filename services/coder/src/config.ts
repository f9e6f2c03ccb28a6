import { address, parseEnv } from "@mlzero/config";
import { z } from "zod";

/**
 * The coder's settings from the environment. The LLM's (`MLZERO_LLM_*`) are
 * `@mlzero/llm`'s `loadLlmSettings`: without `MLZERO_LLM_URL` the offline
 * planner writes every program.
 */
export function loadCoderConfig(env: NodeJS.ProcessEnv) {
  return parseEnv(
    {
      MLZERO_MEMORY_ADDRESS: address(),
      // The LLM coder's prompt templates; unset: services/coder/prompts.
      MLZERO_CODER_PROMPTS_DIR: z.string().min(1).optional(),
    },
    env,
  );
}
