export * from "./analyze.js";
export * from "./check-predictions.js";
export * from "./classify-failure.js";
export * from "./decide-next-step.js";
export * from "./find-exception.js";
export * from "./output-check.js";
export * from "./analyzer-module.js";
export * from "./options-from-env.js";
