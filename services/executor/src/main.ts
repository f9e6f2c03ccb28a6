import { runServiceMain } from "@mlzero/service";
import { jobSettingsOf, loadExecutorConfig } from "./config.js";
import { createExecutorModule } from "./executor-module.js";
import { createKubernetesRunner } from "./kubernetes/kubernetes-runner.js";
import { createLocalRunner } from "./local-runner.js";

await runServiceMain("executor", 50055, async ({ env, logger, bus }) => {
  const config = loadExecutorConfig(env);
  if (config.MLZERO_EXECUTOR_RUNNER === "kubernetes") {
    const kubernetes = createKubernetesRunner({
      kubeconfig: config.KUBECONFIG,
      job: jobSettingsOf(config),
      logger,
      maxConcurrentRuns: config.MLZERO_EXECUTOR_CONCURRENCY,
    });
    await kubernetes.connect();
    const executor = createExecutorModule({ bus, logger, workspaceRoot: config.MLZERO_WORKSPACE_ROOT, runner: kubernetes });
    return {
      ...executor,
      async stop() {
        await executor.stop?.();
        await kubernetes.close();
      },
    };
  }
  const runner = createLocalRunner({ pythonBin: config.MLZERO_PYTHON!, maxConcurrentRuns: config.MLZERO_EXECUTOR_CONCURRENCY });
  return createExecutorModule({ bus, logger, workspaceRoot: config.MLZERO_WORKSPACE_ROOT, runner });
});
