export * from "./embedded-system.js";
export * from "./run-command.js";
export * from "./run-options.js";
