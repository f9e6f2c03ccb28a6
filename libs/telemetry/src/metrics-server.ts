import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
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
  server.listen(options.port, options.host);
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const dialHost = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  return {
    port,
    url: `http://${dialHost.includes(":") ? `[${dialHost}]` : dialHost}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
