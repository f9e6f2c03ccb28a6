// Re-exports the generated contracts of proto/mlzero/v1 (see buf.gen.yaml).
export * from "./gen/mlzero/v1/common_pb.js";
export * from "./gen/mlzero/v1/perception_pb.js";
export * from "./gen/mlzero/v1/memory_pb.js";
export * from "./gen/mlzero/v1/coder_pb.js";
export * from "./gen/mlzero/v1/executor_pb.js";
export * from "./gen/mlzero/v1/analyzer_pb.js";
export * from "./gen/mlzero/v1/events_pb.js";
export * from "./gen/mlzero/v1/task_pb.js";
