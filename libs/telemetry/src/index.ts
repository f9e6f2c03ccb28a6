export * from "./listen-http.js";
export * from "./metrics.js";
export * from "./metrics-server.js";
export * from "./otlp-http-exporter.js";
export * from "./parse-metrics.js";
export * from "./tracing.js";
