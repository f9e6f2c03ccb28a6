import { chatClientFor, loadLlmSettings } from "@mlzero/llm";
import type { Logger } from "@mlzero/logging";
import { createPerceptionAgents, type PerceptionAgents } from "./llm-refine.js";

/**
 * Perception's LLM agents (perception refinement, tool selection) when the
 * environment names an endpoint (`MLZERO_LLM_URL`, see `loadLlmSettings`),
 * as the perception service and the embedded system both build them;
 * undefined without one, and the rules decide alone. The prompts are read
 * here: a missing or broken one fails the start, not the tasks.
 */
export async function perceptionAgentsFromEnv(env: NodeJS.ProcessEnv, logger: Logger): Promise<PerceptionAgents | undefined> {
  const llm = loadLlmSettings(env);
  if (!llm) return undefined;
  const agents = await createPerceptionAgents({ chat: chatClientFor(llm), profiles: llm.profiles, logger });
  logger.info({ baseURL: llm.baseURL, model: llm.profiles.perception.model }, "perception's agents think with the LLM");
  return agents;
}
