import { once } from "node:events";
import type { Server } from "node:http";
import { Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";

/** A node:http (or node:https) server that is listening. */
export interface HttpListener {
  port: number;
  /** "http://host:port" (https for an HTTPS server), dialable from this machine (a wildcard bind is dialed on loopback). */
  origin: string;
  /** Stops listening and cuts the open connections (keep-alive ones, long-lived streams). */
  close(): Promise<void>;
}

/** Listens on `host`:`port` (0 picks a free port); rejects when it cannot bind. */
export async function listenHttp(server: Server | HttpsServer, host: string, port: number): Promise<HttpListener> {
  server.listen(port, host);
  await once(server, "listening");
  const bound = (server.address() as AddressInfo).port;
  const dialHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return {
    port: bound,
    origin: `${server instanceof HttpsServer ? "https" : "http"}://${dialHost.includes(":") ? `[${dialHost}]` : dialHost}:${bound}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
