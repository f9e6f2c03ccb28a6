export * from "./perceive.js";
export * from "./perception-module.js";
