export * from "./config.js";
export * from "./file-task-store.js";
export * from "./gateway-module.js";
export * from "./kafka-task-store.js";
export * from "./task-store.js";
export * from "./write-task-output.js";
