import { address, parseEnv } from "@mlzero/config";

/** The coder's settings from the environment. */
export function loadCoderConfig(env: NodeJS.ProcessEnv) {
  return parseEnv({ MLZERO_MEMORY_ADDRESS: address() }, env);
}
