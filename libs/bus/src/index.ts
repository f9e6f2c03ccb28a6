export * from "./event-bus.js";
export * from "./event-codec.js";
export * from "./event-types.js";
export * from "./envelope.js";
export * from "./in-process-bus.js";
export * from "./partition-for.js";
export * from "./retry-delay.js";
