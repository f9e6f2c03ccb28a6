export * from "./embedder.js";
