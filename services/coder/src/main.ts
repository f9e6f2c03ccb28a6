import { MemoryService } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { runServiceMain } from "@mlzero/service";
import { createCoderModule } from "./coder-module.js";
import { loadCoderConfig } from "./config.js";
import { createOfflineCoder } from "./offline-coder.js";

await runServiceMain("coder", 50054, async ({ env, logger, bus }) => {
  const config = loadCoderConfig(env);
  const memory = createClient(MemoryService, config.MLZERO_MEMORY_ADDRESS);
  const module = createCoderModule({ coder: createOfflineCoder({ memory }), bus, logger });
  // Chain, not replace: the module's own stop (if it gains one) must still run.
  return {
    ...module,
    stop: async () => {
      await module.stop?.();
      memory.close();
    },
  };
});
