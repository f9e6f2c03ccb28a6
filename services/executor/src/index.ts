export * from "./program-runner.js";
export * from "./run-record.js";
export * from "./local-runner.js";
export * from "./sandbox-env.js";
export * from "./stage-iteration.js";
export * from "./executor-module.js";
export * from "./kubernetes/job-spec.js";
export * from "./kubernetes/kubernetes-runner.js";
