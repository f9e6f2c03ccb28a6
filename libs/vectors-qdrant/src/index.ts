export * from "./qdrant-vector-store.js";
