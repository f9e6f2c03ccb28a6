import { chatClientFor, loadLlmSettings } from "@mlzero/llm";
import { MemoryService } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { runServiceMain } from "@mlzero/service";
import { createCoderModule } from "./coder-module.js";
import { loadCoderConfig } from "./config.js";
import { createLlmCoder, loadCoderPrompts } from "./llm-coder.js";
import { createOfflineCoder } from "./offline-coder.js";

await runServiceMain("coder", 50054, async ({ env, logger, bus }) => {
  const config = loadCoderConfig(env);
  const settings = loadLlmSettings(env);
  const memory = createClient(MemoryService, config.MLZERO_MEMORY_ADDRESS);
  const offline = createOfflineCoder({ memory });
  let coder = offline;
  if (settings) {
    const promptsDir = config.MLZERO_CODER_PROMPTS_DIR;
    // A missing or malformed prompt file fails the start, not every task.
    await loadCoderPrompts(promptsDir);
    const chat = chatClientFor(settings);
    coder = createLlmCoder({ chat, settings, memory, offline, promptsDir, logger });
    logger.info({ baseURL: settings.baseURL, model: settings.profiles.coder.model }, "coder thinks with the LLM");
  }
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
