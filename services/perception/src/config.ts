import { address, parseEnv } from "@mlzero/config";
import { z } from "zod";

/** Perception's settings from the environment. */
export function loadPerceptionConfig(env: NodeJS.ProcessEnv) {
  return parseEnv({ MLZERO_WORKSPACE_ROOT: z.string().min(1), MLZERO_MEMORY_ADDRESS: address() }, env);
}
