export * from "./vector-store.js";
export * from "./uuid-v5.js";
export * from "./tokenize.js";
export * from "./bm25-encoder.js";
export * from "./payload-filter.js";
export * from "./embedded-vector-store.js";
export * from "./collection-spec.js";
