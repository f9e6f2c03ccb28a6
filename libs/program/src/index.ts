export * from "./program-config.js";
export * from "./render-program.js";
export * from "./result-line.js";
