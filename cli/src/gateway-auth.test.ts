import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { createInProcessBus, type InProcessBus } from "@mlzero/bus";
import { createGatewayModule, openBearerTokenFile, type GatewayModule } from "@mlzero/gateway";
import { createSilentLogger } from "@mlzero/logging";
import { RpcError, serverCredentialsFromEnv, startGrpcServer, type RunningGrpcServer } from "@mlzero/rpc";
import { generateTestCertificates, type TestCertificates } from "@mlzero/rpc/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliCommand } from "./cli-command.js";
import { COMMANDS } from "./commands.js";
import { gatewayTokenFrom } from "./gateway-client.js";

// The gateway commands against a gateway with tenants behind mutual TLS:
// the token from MLZERO_TOKEN or --token, the client certificate and CA
// from MLZERO_TLS_*, and the one-line errors a user gets without them.

const ACME = `acme-${randomBytes(12).toString("hex")}`;
const GLOBEX = `globex-${randomBytes(12).toString("hex")}`;
const logger = createSilentLogger();

let dir: string;
let data: string;
let certs: TestCertificates;
let bus: InProcessBus;
let gateway: GatewayModule;
let server: RunningGrpcServer;
let tls: NodeJS.ProcessEnv;

/** Runs a command in this process; its output, exit code, or the error it threw. */
async function mlzero(args: string[], env: NodeJS.ProcessEnv) {
  const [name, ...rest] = args;
  const command = COMMANDS.find((candidate) => candidate.name === name) as CliCommand;
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  stderr.resume();
  try {
    const code = await command.run(rest, { stdout, stderr, env: { MLZERO_GATEWAY_ADDRESS: server.address, ...env } });
    return { code, stdout: out, error: undefined };
  } catch (error) {
    return { code: 2, stdout: out, error: error as Error };
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "cli-gateway-auth-"));
  data = path.join(dir, "data");
  await mkdir(data);
  await writeFile(path.join(data, "train.csv"), "id,y\n1,a\n");
  await writeFile(path.join(dir, "tokens"), JSON.stringify({ [ACME]: "acme", [GLOBEX]: "globex" }));
  certs = await generateTestCertificates(path.join(dir, "certs"));
  bus = createInProcessBus({ logger, retryBackoffMs: 1 });
  gateway = createGatewayModule({
    bus,
    logger,
    workspaceRoot: path.join(dir, "workspace"),
    defaults: { maxIterations: 1, timeLimitSeconds: 600, iterationTimeLimitSeconds: 60, memoryLimitBytes: 2 ** 30 },
    authenticator: await openBearerTokenFile({ file: path.join(dir, "tokens"), logger }),
    allowedRoots: [dir],
  });
  await bus.subscribe(gateway.pipeline!);
  server = await startGrpcServer({
    host: "127.0.0.1",
    port: 0,
    logger,
    services: gateway.grpc,
    credentials: serverCredentialsFromEnv({
      MLZERO_TLS_CERT: certs.serverCert,
      MLZERO_TLS_KEY: certs.serverKey,
      MLZERO_TLS_CLIENT_CA: certs.caCert,
    }),
  });
  tls = { MLZERO_TLS_CA: certs.caCert, MLZERO_TLS_CERT: certs.clientCert, MLZERO_TLS_KEY: certs.clientKey };
});

afterAll(async () => {
  await server?.stop(100);
  await gateway?.stop?.();
  await bus?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("mlzero against a gateway with tenants over mutual TLS", () => {
  it("submits, lists, shows, cancels and fetches with MLZERO_TOKEN or --token; another tenant sees nothing", async () => {
    const submitted = await mlzero(["submit", data], { ...tls, MLZERO_TOKEN: ACME });
    expect(submitted.error).toBeUndefined();
    const taskId = submitted.stdout.trim();
    expect(taskId).toMatch(/^t/);

    const listed = await mlzero(["ls", "--token", ACME, "--json"], tls);
    expect((JSON.parse(listed.stdout) as { taskId: string; tenant: string }[]).map((task) => [task.taskId, task.tenant])).toEqual([
      [taskId, "acme"],
    ]);
    expect((await mlzero(["ls", "--since", "2000-01-01"], { ...tls, MLZERO_TOKEN: ACME })).stdout).toContain(taskId);
    expect((await mlzero(["ls", "--until", "2000-01-01"], { ...tls, MLZERO_TOKEN: ACME })).stdout).toBe("no tasks\n");
    expect((await mlzero(["ls"], { ...tls, MLZERO_TOKEN: GLOBEX })).stdout).toBe("no tasks\n");
    const theirs = await mlzero(["status", taskId], { ...tls, MLZERO_TOKEN: GLOBEX });
    expect(theirs.error).toBeInstanceOf(RpcError);
    expect(theirs.error?.message).toBe(`task ${taskId} not found`);

    expect((await mlzero(["cancel", taskId], { ...tls, MLZERO_TOKEN: ACME })).stdout).toBe(`cancel requested for task ${taskId}\n`);
    await bus.whenIdle();
    expect((await mlzero(["cancel", taskId], { ...tls, MLZERO_TOKEN: ACME })).stdout).toBe(
      `task ${taskId} already cancelled; nothing to cancel\n`,
    );
    // Its report, streamed over the same mutual TLS with the token; another tenant's fetch is NOT_FOUND.
    const report = await mlzero(["fetch", taskId, "--artifact", "report"], { ...tls, MLZERO_TOKEN: ACME });
    expect(report.error).toBeUndefined();
    expect(JSON.parse(report.stdout)).toMatchObject({ task_id: taskId, status: "cancelled" });
    const notTheirs = await mlzero(["fetch", taskId, "--artifact", "report", "--token", GLOBEX], tls);
    expect(notTheirs.error?.message).toBe(`task ${taskId} not found`);
  });

  it("says in one line what is missing: a token, a valid token, a client certificate", async () => {
    const none = await mlzero(["ls"], tls);
    expect(none.error?.message).toMatch(/needs a bearer token.*set MLZERO_TOKEN or pass --token\)$/);
    const wrong = await mlzero(["ls", "--token", `${ACME}-old`], tls);
    expect(wrong.error?.message).toMatch(/^the bearer token is not valid \(the gateway at .* wants a valid token/);
    const noCertificate = await mlzero(["ls"], { MLZERO_TLS_CA: certs.caCert, MLZERO_TOKEN: ACME });
    expect(noCertificate.error?.message).toMatch(/^cannot reach the gateway at /);
    const plaintext = await mlzero(["ls"], { MLZERO_TOKEN: ACME });
    expect(plaintext.error?.message).toMatch(/^cannot reach the gateway at /);
    const badFile = await mlzero(["ls"], { MLZERO_TLS_CA: path.join(dir, "nope.pem"), MLZERO_TOKEN: ACME });
    expect(badFile.error?.message).toMatch(/MLZERO_TLS_CA: cannot read/);
    for (const result of [none, wrong, noCertificate, plaintext, badFile]) {
      expect(result.error?.message).not.toContain(ACME);
      expect(result.error?.message.split("\n")).toHaveLength(1);
    }
  });

  it("checks health over TLS with the same settings", async () => {
    expect(await mlzero(["health"], tls)).toMatchObject({ code: 0, stdout: `${server.address} SERVING\n` });
  });
});

describe("gatewayTokenFrom", () => {
  it("takes --token over MLZERO_TOKEN, none when neither, and refuses a token with spaces", () => {
    expect(gatewayTokenFrom(" abc ", { MLZERO_TOKEN: "def" })).toBe("abc");
    expect(gatewayTokenFrom(undefined, { MLZERO_TOKEN: "def" })).toBe("def");
    expect(gatewayTokenFrom(undefined, { MLZERO_TOKEN: " " })).toBeUndefined();
    expect(() => gatewayTokenFrom(undefined, { MLZERO_TOKEN: "Bearer def" })).toThrow(/MLZERO_TOKEN must be one word/);
  });
});
