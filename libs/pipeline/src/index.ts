export * from "./budget.js";
export * from "./fail-task.js";
export * from "./finished-tasks.js";
export * from "./processed-set.js";
export * from "./keyed-queue.js";
