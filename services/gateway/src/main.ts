import { runServiceMain } from "@mlzero/service";
import { budgetDefaultsFrom, loadGatewayConfig } from "./config.js";
import { createFileTaskStore } from "./file-task-store.js";
import { createGatewayModule } from "./gateway-module.js";
import { createMemoryTaskStore } from "./task-store.js";

await runServiceMain("gateway", 50051, async ({ env, logger, bus }) => {
  const config = loadGatewayConfig(env);
  const stateDir = config.MLZERO_GATEWAY_STATE_DIR;
  return createGatewayModule({
    bus,
    logger,
    workspaceRoot: config.MLZERO_WORKSPACE_ROOT,
    defaults: budgetDefaultsFrom(config),
    store: stateDir ? createFileTaskStore({ dir: stateDir }) : createMemoryTaskStore(),
  });
});
