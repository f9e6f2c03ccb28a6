import { createServer, connect, type Server, type Socket } from "node:net";

/**
 * A TCP forwarder in front of a service that a test can close like a gate:
 * while held, what clients send is kept back (and counted) instead of
 * forwarded. A service whose lookups go through a held gate is stuck inside
 * the handler that made the call, so a test can kill it there, at a moment
 * it knows, rather than hope a kill lands inside a handler of a few
 * milliseconds.
 */
export interface TcpGate {
  /** host:port to give the client instead of the target's. */
  address: string;
  /** Keeps back whatever clients send from now on. */
  hold(): void;
  /** Forwards what was kept back, and everything after. */
  release(): void;
  /** Bytes clients sent while the gate was held (and not forwarded yet). */
  heldBytes(): number;
  /** Drops every connection open now, as a network failure would; new ones are accepted. */
  cut(): void;
  close(): Promise<void>;
}

/** Starts a gate on a free port of 127.0.0.1 that forwards to `target()` (host:port, looked up per connection). */
export async function startTcpGate(target: () => string): Promise<TcpGate> {
  let held = false;
  let heldBytes = 0;
  const waiting: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const [host, port] = splitAddress(target());
    const upstream = connect(port, host);
    sockets.add(client).add(upstream);
    const forget = () => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", forget).on("error", forget);
    upstream.on("close", forget).on("error", forget);
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    client.on("data", (chunk: Buffer) => {
      if (!held) {
        upstream.write(chunk);
        return;
      }
      heldBytes += chunk.length;
      waiting.push(() => {
        if (!upstream.destroyed) upstream.write(chunk);
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${port}`,
    hold() {
      held = true;
    },
    release() {
      held = false;
      heldBytes = 0;
      for (const send of waiting.splice(0)) send();
    },
    heldBytes: () => heldBytes,
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(":");
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}
