import { MemoryService } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { runServiceMain } from "@mlzero/service";
import { loadPerceptionConfig } from "./config.js";
import { createPerceptionModule } from "./perception-module.js";

await runServiceMain("perception", 50052, async ({ env, logger, bus }) => {
  const config = loadPerceptionConfig(env);
  const memory = createClient(MemoryService, config.MLZERO_MEMORY_ADDRESS);
  const module = createPerceptionModule({ bus, logger, memory, workspaceRoot: config.MLZERO_WORKSPACE_ROOT });
  // Chain, not replace: the module's own stop (if it gains one) must still run.
  return {
    ...module,
    stop: async () => {
      await module.stop?.();
      memory.close();
    },
  };
});
