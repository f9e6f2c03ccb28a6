import { MemoryService } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { runServiceMain } from "@mlzero/service";
import { createAnalyzerModule } from "./analyzer-module.js";
import { loadAnalyzerConfig } from "./config.js";
import { analyzerOptionsFromEnv } from "./options-from-env.js";

await runServiceMain("analyzer", 50056, async ({ env, logger, bus }) => {
  const config = loadAnalyzerConfig(env);
  // With an LLM endpoint (MLZERO_LLM_URL) the verdict and error-analysis agents review the analyzer's decisions,
  // and the search improves on its first success; without one it decides alone.
  const search = await analyzerOptionsFromEnv(env, logger);
  const memory = config.MLZERO_MEMORY_ADDRESS ? createClient(MemoryService, config.MLZERO_MEMORY_ADDRESS) : undefined;
  const module = createAnalyzerModule({
    bus,
    logger,
    workspaceRoot: config.MLZERO_WORKSPACE_ROOT,
    defaultMaxIterations: config.MLZERO_DEFAULT_MAX_ITERATIONS,
    ...search,
    lessons: memory,
  });
  return {
    ...module,
    async stop() {
      await module.stop?.();
      memory?.close();
    },
  };
});
