import { runServiceMain } from "@mlzero/service";
import { loadExecutorConfig } from "./config.js";
import { createExecutorModule } from "./executor-module.js";
import { createLocalRunner } from "./local-runner.js";

await runServiceMain("executor", 50055, async ({ env, logger, bus }) => {
  const config = loadExecutorConfig(env);
  const runner = createLocalRunner({ pythonBin: config.MLZERO_PYTHON, maxConcurrentRuns: config.MLZERO_EXECUTOR_CONCURRENCY });
  return createExecutorModule({ bus, logger, workspaceRoot: config.MLZERO_WORKSPACE_ROOT, runner });
});
