export * from "./config.js";
export * from "./gateway-module.js";
export * from "./write-task-output.js";
