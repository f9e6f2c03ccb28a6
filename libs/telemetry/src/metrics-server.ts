import { createServer, type Server } from "node:http";
import { listenHttp } from "./listen-http.js";
import { collectProcessMetrics, METRICS_CONTENT_TYPE, metricsText } from "./metrics.js";

/** Options for {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /** Interface to bind, e.g. "127.0.0.1" or "0.0.0.0". */
  host: string;
  /** 0 picks a free port. */
  port: number;
}

/** A started `/metrics` endpoint. */
export interface MetricsServer {
  port: number;
  /** "http://host:port/metrics", dialable from this machine. */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the process's registry for Prometheus to scrape: `GET /metrics` in
 * the text exposition format; anything else is 404. Also starts collecting
 * the process's own metrics.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  collectProcessMetrics();
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "").split("?")[0];
    if (path !== "/metrics" || (request.method !== "GET" && request.method !== "HEAD")) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found: try GET /metrics\n");
      return;
    }
    metricsText().then(
      (text) => response.writeHead(200, { "content-type": METRICS_CONTENT_TYPE }).end(request.method === "HEAD" ? undefined : text),
      (error: unknown) => response.writeHead(500, { "content-type": "text/plain" }).end(`${String(error)}\n`),
    );
  });
  const listener = await listenHttp(server, options.host, options.port);
  return { port: listener.port, url: `${listener.origin}/metrics`, close: listener.close };
}
