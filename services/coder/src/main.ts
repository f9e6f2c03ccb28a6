import { MemoryService } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { runServiceMain } from "@mlzero/service";
import { coderFromEnv } from "./coder-from-env.js";
import { createCoderModule } from "./coder-module.js";
import { loadCoderConfig } from "./config.js";

await runServiceMain("coder", 50054, async ({ env, logger, bus }) => {
  const config = loadCoderConfig(env);
  const memory = createClient(MemoryService, config.MLZERO_MEMORY_ADDRESS);
  // With an LLM endpoint (MLZERO_LLM_URL) the LLM coder around the offline planner; without one the offline planner alone.
  const coder = await coderFromEnv({ env, memory, logger });
  const module = createCoderModule({ coder, bus, logger });
  // Chain, not replace: the module's own stop (if it gains one) must still run.
  return {
    ...module,
    stop: async () => {
      await module.stop?.();
      memory.close();
    },
  };
});
