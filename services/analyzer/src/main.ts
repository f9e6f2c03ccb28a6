import { MemoryService } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { runServiceMain } from "@mlzero/service";
import { createAnalyzerModule } from "./analyzer-module.js";
import { loadAnalyzerConfig } from "./config.js";

await runServiceMain("analyzer", 50056, async ({ env, logger, bus }) => {
  const config = loadAnalyzerConfig(env);
  const memory = config.MLZERO_MEMORY_ADDRESS ? createClient(MemoryService, config.MLZERO_MEMORY_ADDRESS) : undefined;
  const module = createAnalyzerModule({
    bus,
    logger,
    workspaceRoot: config.MLZERO_WORKSPACE_ROOT,
    defaultMaxIterations: config.MLZERO_DEFAULT_MAX_ITERATIONS,
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
