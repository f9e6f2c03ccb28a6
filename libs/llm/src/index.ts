export * from "./agent-call.js";
export * from "./embedder.js";
export * from "./chat.js";
export * from "./prompts.js";
export * from "./settings.js";
export * from "./usage.js";
