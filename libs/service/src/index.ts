export * from "./run-service-main.js";
export * from "./service-module.js";
export * from "./instrument.js";
