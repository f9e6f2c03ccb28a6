import { InvalidInputError } from "@mlzero/errors";
import type { ProgramConfig } from "./program-config.js";

/** The one placeholder a program template contains: `CONFIG = json.loads(__MLZERO_CONFIG__)`. */
export const CONFIG_PLACEHOLDER = "__MLZERO_CONFIG__";

/**
 * Turns a template into a runnable program by replacing its placeholder with
 * the config as a string literal. A JSON string literal is also a valid
 * Python string literal, so no value can break out of it into code.
 */
export function renderProgram(template: string, config: ProgramConfig): string {
  const occurrences = template.split(CONFIG_PLACEHOLDER).length - 1;
  if (occurrences !== 1) {
    throw new InvalidInputError(`a program template must contain ${CONFIG_PLACEHOLDER} exactly once, found ${occurrences}`);
  }
  return template.replace(CONFIG_PLACEHOLDER, () => JSON.stringify(JSON.stringify(config, null, 1)));
}
