export * from "./create-client.js";
export * from "./grpc-definition.js";
export * from "./service-errors.js";
export * from "./service-handlers.js";
export * from "./start-grpc-server.js";
export { status as GrpcStatus } from "@grpc/grpc-js";
export * from "./check-health.js";
export * from "./local-client.js";
export * from "./tls.js";
