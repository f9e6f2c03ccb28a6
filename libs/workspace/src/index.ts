export * from "./task-workspace.js";
