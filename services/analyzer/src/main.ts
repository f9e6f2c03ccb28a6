import { runServiceMain } from "@mlzero/service";
import { createAnalyzerModule } from "./analyzer-module.js";
import { loadAnalyzerConfig } from "./config.js";

await runServiceMain("analyzer", 50056, async ({ env, logger, bus }) => {
  const config = loadAnalyzerConfig(env);
  return createAnalyzerModule({
    bus,
    logger,
    workspaceRoot: config.MLZERO_WORKSPACE_ROOT,
    defaultMaxIterations: config.MLZERO_DEFAULT_MAX_ITERATIONS,
  });
});
