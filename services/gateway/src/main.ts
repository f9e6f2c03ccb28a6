import { runServiceMain } from "@mlzero/service";
import { budgetDefaultsFrom, loadGatewayConfig } from "./config.js";
import { createGatewayModule } from "./gateway-module.js";

await runServiceMain("gateway", 50051, async ({ env, logger, bus }) => {
  const config = loadGatewayConfig(env);
  return createGatewayModule({ bus, logger, workspaceRoot: config.MLZERO_WORKSPACE_ROOT, defaults: budgetDefaultsFrom(config) });
});
