import { once } from "node:events";
import net, { type AddressInfo } from "node:net";
import { expect } from "vitest";
import type { CliResult } from "../support/run-cli.js";

/** A port nothing listens on right now: bind port 0, read it, release it. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}

/** Whether a port on 127.0.0.1 can be bound now. */
export async function portIsFree(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A CLI run's output, for assertion messages. */
export function describeRun(result: CliResult): string {
  return `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr.slice(-3000)}`;
}

/** The run failed with `code` and said why in exactly one line matching `pattern`, without a stack trace. */
export function expectOneLineError(result: CliResult, code: number, pattern: RegExp): void {
  const all = `${result.stdout}\n${result.stderr}`;
  expect(result.code, describeRun(result)).toBe(code);
  expect(all).not.toMatch(/^\s+at /m);
  expect(result.stderr.trim().split("\n"), describeRun(result)).toHaveLength(1);
  expect(result.stderr.trim(), describeRun(result)).toMatch(pattern);
}
