export * from "./coder-module.js";
export * from "./offline-coder.js";
export * from "./program-config-for.js";
export * from "./coder-from-env.js";
