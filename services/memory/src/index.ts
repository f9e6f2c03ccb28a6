export * from "./tool-entry.js";
export * from "./markdown-sections.js";
export * from "./load-corpus.js";
export * from "./semantic-memory.js";
export * from "./episodic-memory.js";
export * from "./memory-module.js";
