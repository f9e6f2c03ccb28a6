export * from "./kafka-bus.js";
export * from "./kafka-compacted-topic.js";
export * from "./kafka-headers.js";
export * from "./kafka-unavailable-error.js";
