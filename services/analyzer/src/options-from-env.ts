import { chatClientFor, loadLlmSettings } from "@mlzero/llm";
import type { Logger } from "@mlzero/logging";
import type { AnalyzerModuleOptions } from "./analyzer-module.js";
import { loadSearchConfig } from "./config.js";
import { createAnalyzerAgents } from "./llm-agents.js";

/** The analyzer module's options that come from the environment: the search's and the LLM agents. */
export type AnalyzerEnvOptions = Required<Pick<AnalyzerModuleOptions, "defaultParallelism" | "improveRounds">> &
  Pick<AnalyzerModuleOptions, "agents">;

/**
 * The search and LLM options the environment asks for, as the analyzer
 * service and the embedded system both build them: with an LLM endpoint
 * (`MLZERO_LLM_URL`, see `loadLlmSettings`) the verdict and error-analysis
 * agents (prompts read here, so a broken one fails the start) and 1
 * improvement round; without one no agents and no improvement round (the
 * offline coder would write the same program again).
 * `MLZERO_SEARCH_IMPROVE_ROUNDS` and `MLZERO_SEARCH_PARALLELISM` (default 1)
 * say otherwise.
 */
export async function analyzerOptionsFromEnv(env: NodeJS.ProcessEnv, logger: Logger): Promise<AnalyzerEnvOptions> {
  const search = loadSearchConfig(env);
  const llm = loadLlmSettings(env);
  const agents = llm ? await createAnalyzerAgents({ chat: chatClientFor(llm), profiles: llm.profiles, logger }) : undefined;
  if (llm) logger.info({ baseURL: llm.baseURL, model: llm.profiles.verdict.model }, "the analyzer's agents think with the LLM");
  return {
    defaultParallelism: search.MLZERO_SEARCH_PARALLELISM,
    improveRounds: search.MLZERO_SEARCH_IMPROVE_ROUNDS ?? (llm ? 1 : 0),
    agents,
  };
}
