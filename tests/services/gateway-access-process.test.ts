import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { TaskService } from "@mlzero/proto";
import { clientTransportFromEnv, createClient } from "@mlzero/rpc";
import { callOutcome, generateTestCertificates, type TestCertificates } from "@mlzero/rpc/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  killServiceProcess,
  runServiceToExit,
  serviceBaseEnv,
  spawnServiceProcess,
  waitUntilServing,
  type ServiceProcess,
} from "../support/cluster-harness.js";
import { freePort } from "../cli/cli-helpers.js";

// The gateway's main as its own process, configured as a platform runs it:
// bearer tokens from a mounted file, allowed input roots, mutual TLS, task
// state in files. What its environment turns on, end to end.

const ACME = `acme-${randomBytes(16).toString("hex")}`;
const ROTATED = `acme-rotated-${randomBytes(16).toString("hex")}`;

let dir: string;
let certs: TestCertificates;
let gateway: ServiceProcess | undefined;
let address: string;
let tls: NodeJS.ProcessEnv;
let env: NodeJS.ProcessEnv;

const codeOf = async (call: Promise<unknown>) => (await callOutcome(call)).code;

function dial(token: string | undefined, transport = clientTransportFromEnv(tls)) {
  return createClient(TaskService, address, {
    defaultTimeoutMs: 10_000,
    credentials: transport.credentials,
    channelOptions: transport.options,
    metadata: token ? { authorization: `Bearer ${token}` } : {},
  });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "mlzero-gateway-access-"));
  await mkdir(path.join(dir, "shared", "churn"), { recursive: true });
  await writeFile(path.join(dir, "shared", "churn", "train.csv"), "id,y\n1,a\n");
  await mkdir(path.join(dir, "private"));
  await writeFile(path.join(dir, "private", "train.csv"), "id,y\n1,a\n");
  await writeFile(path.join(dir, "tokens"), `${ACME} acme\n`);
  certs = await generateTestCertificates(path.join(dir, "certs"));
  tls = { MLZERO_TLS_CA: certs.caCert, MLZERO_TLS_CERT: certs.clientCert, MLZERO_TLS_KEY: certs.clientKey };
  const port = await freePort();
  address = `127.0.0.1:${port}`;
  env = {
    ...serviceBaseEnv(),
    MLZERO_GRPC_HOST: "127.0.0.1",
    MLZERO_GRPC_PORT: String(port),
    MLZERO_LOG_LEVEL: "debug",
    MLZERO_WORKSPACE_ROOT: path.join(dir, "workspace"),
    MLZERO_GATEWAY_STATE_DIR: path.join(dir, "state"),
    MLZERO_GATEWAY_TOKENS_FILE: path.join(dir, "tokens"),
    MLZERO_GATEWAY_ALLOWED_ROOTS: path.join(dir, "shared"),
    MLZERO_TLS_CERT: certs.serverCert,
    MLZERO_TLS_KEY: certs.serverKey,
    MLZERO_TLS_CLIENT_CA: certs.caCert,
  };
  gateway = spawnServiceProcess("gateway", env);
  await waitUntilServing(gateway, address, clientTransportFromEnv(tls));
});

afterAll(async () => {
  await killServiceProcess(gateway);
  await rm(dir, { recursive: true, force: true });
});

describe("the gateway process with tokens, allowed roots and mutual TLS", () => {
  it("serves a tenant with a token and a client certificate, and refuses everything short of that", async () => {
    const acme = dial(ACME);
    const { task } = await acme.submit({ spec: { inputUri: path.join(dir, "shared", "churn") } });
    expect(task?.tenant).toBe("acme");
    expect(await codeOf(dial(undefined).list({}))).toBe("UNAUTHENTICATED");
    expect(await codeOf(acme.submit({ spec: { inputUri: path.join(dir, "private") } }))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(dial(ACME, clientTransportFromEnv({ MLZERO_TLS_CA: certs.caCert })).list({}))).toBe("UNAVAILABLE");
    expect(await codeOf(dial(ACME, clientTransportFromEnv({})).list({}))).toBe("UNAVAILABLE");

    // A rotated secret, swapped in as Kubernetes does, takes effect without a restart.
    await writeFile(path.join(dir, "tokens.new"), `${ROTATED} acme\n`);
    await rename(path.join(dir, "tokens.new"), path.join(dir, "tokens"));
    await sleep(1_100);
    expect(await codeOf(acme.get({ taskId: task!.taskId }))).toBe("UNAUTHENTICATED");
    expect((await dial(ROTATED).get({ taskId: task!.taskId })).task?.taskId).toBe(task!.taskId);
    expect(await codeOf(dial(ROTATED).cancel({ taskId: task!.taskId }))).toBe("OK");

    gateway!.child.kill("SIGTERM");
    expect(await gateway!.closed).toEqual({ code: 0, signal: null });
    const output = gateway!.output();
    expect(output).toMatch(/"tls":true/);
    expect(output).toMatch(/tenant tokens reloaded/);
    const state = await Promise.all(
      (await readdir(path.join(dir, "state"))).map((name) => readFile(path.join(dir, "state", name), "latin1")),
    );
    expect(state.length).toBeGreaterThan(0);
    for (const token of [ACME, ROTATED]) {
      expect(output.includes(token), "a token in the logs").toBe(false);
      expect(
        state.some((content) => content.includes(token)),
        "a token in the stored state",
      ).toBe(false);
    }
  });

  it("stops at start, naming the variable, on a missing token file or half a TLS identity", async () => {
    const noTokens = await runServiceToExit("gateway", {
      ...(env as Record<string, string>),
      MLZERO_GATEWAY_TOKENS_FILE: path.join(dir, "missing"),
      MLZERO_GRPC_PORT: "0",
    });
    expect(noTokens.code, noTokens.output).toBe(2);
    expect(noTokens.stderr.trim()).toMatch(
      /^gateway: invalid configuration: MLZERO_GATEWAY_TOKENS_FILE: .*missing: cannot read the file \(ENOENT\)$/,
    );
    const noKey = await runServiceToExit("gateway", { ...(env as Record<string, string>), MLZERO_TLS_KEY: "", MLZERO_GRPC_PORT: "0" });
    expect(noKey.code, noKey.output).not.toBe(0);
    expect(noKey.stderr).toMatch(/MLZERO_TLS_KEY is required with MLZERO_TLS_CERT/);
  });
});
