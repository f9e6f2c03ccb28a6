export * from "./log-fields.js";
export * from "./logger.js";
export * from "./redact.js";
