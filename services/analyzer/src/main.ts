import { chatClientFor, loadLlmSettings } from "@mlzero/llm";
import { MemoryService } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { runServiceMain } from "@mlzero/service";
import { createAnalyzerModule } from "./analyzer-module.js";
import { loadAnalyzerConfig } from "./config.js";
import { createAnalyzerAgents } from "./llm-agents.js";

await runServiceMain("analyzer", 50056, async ({ env, logger, bus }) => {
  const config = loadAnalyzerConfig(env);
  // With an LLM endpoint (MLZERO_LLM_URL) the verdict and error-analysis agents review the analyzer's decisions; without one it decides alone.
  const llm = loadLlmSettings(env);
  const agents = llm
    ? await createAnalyzerAgents({
        chat: chatClientFor(llm),
        profiles: llm.profiles,
        logger,
      })
    : undefined;
  const memory = config.MLZERO_MEMORY_ADDRESS ? createClient(MemoryService, config.MLZERO_MEMORY_ADDRESS) : undefined;
  const module = createAnalyzerModule({
    bus,
    logger,
    workspaceRoot: config.MLZERO_WORKSPACE_ROOT,
    defaultMaxIterations: config.MLZERO_DEFAULT_MAX_ITERATIONS,
    defaultParallelism: config.MLZERO_SEARCH_PARALLELISM,
    improveRounds: config.MLZERO_SEARCH_IMPROVE_ROUNDS ?? (llm ? 1 : 0),
    lessons: memory,
    agents,
  });
  return {
    ...module,
    async stop() {
      await module.stop?.();
      memory?.close();
    },
  };
});
