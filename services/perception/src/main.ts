import { MemoryService } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { runServiceMain } from "@mlzero/service";
import { perceptionAgentsFromEnv } from "./agents-from-env.js";
import { loadPerceptionConfig } from "./config.js";
import { createPerceptionModule } from "./perception-module.js";

await runServiceMain("perception", 50052, async ({ env, logger, bus }) => {
  const config = loadPerceptionConfig(env);
  // With an LLM endpoint (MLZERO_LLM_URL) the perception and tool-selection agents refine the rules' context; without one the rules decide alone.
  const agents = await perceptionAgentsFromEnv(env, logger);
  const memory = createClient(MemoryService, config.MLZERO_MEMORY_ADDRESS);
  const module = createPerceptionModule({ bus, logger, memory, workspaceRoot: config.MLZERO_WORKSPACE_ROOT, agents });
  // Chain, not replace: the module's own stop (if it gains one) must still run.
  return {
    ...module,
    stop: async () => {
      await module.stop?.();
      memory.close();
    },
  };
});
