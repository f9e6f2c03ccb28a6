import { chatClientFor, loadLlmSettings } from "@mlzero/llm";
import type { Logger } from "@mlzero/logging";
import { loadLlmCoderConfig } from "./config.js";
import { createLlmCoder, loadCoderPrompts } from "./llm-coder.js";
import { createOfflineCoder, type Coder, type KnowledgeSource } from "./offline-coder.js";

/** What {@link coderFromEnv} needs besides the environment. */
export interface CoderFromEnvOptions {
  env: NodeJS.ProcessEnv;
  /** Memory's lookups: templates, tutorials, lessons. */
  memory: KnowledgeSource;
  logger: Logger;
}

/**
 * The coder the environment asks for, as the coder service and the embedded
 * system both build it: the LLM coder around the offline planner when
 * `loadLlmSettings` finds an endpoint (`MLZERO_LLM_URL`; prompts from
 * `MLZERO_CODER_PROMPTS_DIR`, read here so that a missing file fails the
 * start, not the tasks), else the offline planner alone.
 */
export async function coderFromEnv({ env, memory, logger }: CoderFromEnvOptions): Promise<Coder> {
  const settings = loadLlmSettings(env);
  const offline = createOfflineCoder({ memory });
  if (!settings) return offline;
  const { MLZERO_CODER_PROMPTS_DIR: promptsDir } = loadLlmCoderConfig(env);
  await loadCoderPrompts(promptsDir);
  const coder = createLlmCoder({ chat: chatClientFor(settings), settings, memory, offline, promptsDir, logger });
  logger.info({ baseURL: settings.baseURL, model: settings.profiles.coder.model }, "coder thinks with the LLM");
  return coder;
}
