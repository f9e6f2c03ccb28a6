export * from "./perceive.js";
export * from "./perception-module.js";
export * from "./agents-from-env.js";
