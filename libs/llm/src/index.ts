export * from "./embedder.js";
export * from "./chat.js";
