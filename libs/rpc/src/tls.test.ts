import { copyFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { createSilentLogger } from "@mlzero/logging";
import { GetResponseSchema, TaskSchema, TaskService } from "@mlzero/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkHealth } from "./check-health.js";
import { createClient } from "./create-client.js";
import type { RpcError } from "./service-errors.js";
import { serve, startGrpcServer, type RunningGrpcServer } from "./start-grpc-server.js";
import { generateTestCertificates, type TestCertificates } from "./testing.js";
import { clientTlsTransport, clientTransportFromEnv, serverCredentialsFromEnv, serverTlsCredentials } from "./tls.js";

// TLS and mutual TLS on real gRPC over 127.0.0.1, with certificates made
// here by openssl: a server of the test CA, a client certificate of the same
// CA, and a stranger's from another CA.

const logger = createSilentLogger();
let dir: string;
let certs: TestCertificates;
const pem = (file: string) => readFile(file);

const service = serve(TaskService, {
  async submit() {
    return {};
  },
  async get(request, context) {
    return create(GetResponseSchema, {
      task: create(TaskSchema, { taskId: request.taskId, message: context.metadata.authorization ?? "" }),
    });
  },
  async *watch() {},
  async cancel() {
    return {};
  },
  async list() {
    return { tasks: [], nextPageToken: "" };
  },
  async *getArtifact() {},
});

async function startServer(env: NodeJS.ProcessEnv): Promise<RunningGrpcServer> {
  return startGrpcServer({ host: "127.0.0.1", port: 0, logger, services: [service], credentials: serverCredentialsFromEnv(env) });
}

/** The status code a Get fails with, or "ok". */
async function getWith(server: RunningGrpcServer, transport: ReturnType<typeof clientTlsTransport> | undefined) {
  const client = createClient(TaskService, server.address, {
    defaultTimeoutMs: 5_000,
    ...(transport ? { credentials: transport.credentials, channelOptions: transport.options } : {}),
  });
  try {
    const { task } = await client.get({ taskId: "t1" });
    return task?.taskId === "t1" ? "ok" : "wrong answer";
  } catch (error) {
    return (error as RpcError).codeName;
  } finally {
    client.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "rpc-tls-"));
  certs = await generateTestCertificates(dir);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("TLS", () => {
  it("serves TLS with MLZERO_TLS_CERT and MLZERO_TLS_KEY; a client trusting the CA gets through, a plaintext one does not", async () => {
    const server = await startServer({ MLZERO_TLS_CERT: certs.serverCert, MLZERO_TLS_KEY: certs.serverKey });
    try {
      expect(await getWith(server, clientTlsTransport({ ca: await pem(certs.caCert) }))).toBe("ok");
      expect(await getWith(server, clientTransportFromEnv({ MLZERO_TLS_CA: certs.caCert }))).toBe("ok");
      expect(await getWith(server, undefined)).toBe("UNAVAILABLE");
      // A client that trusts another CA refuses the server.
      expect(await getWith(server, clientTlsTransport({ ca: await pem(path.join(dir, "other-ca.crt")) }))).toBe("UNAVAILABLE");
      // The name checked can differ from the host dialed.
      expect(await getWith(server, clientTransportFromEnv({ MLZERO_TLS_CA: certs.caCert, MLZERO_TLS_SERVER_NAME: "gateway" }))).toBe("ok");
      expect(await getWith(server, clientTransportFromEnv({ MLZERO_TLS_CA: certs.caCert, MLZERO_TLS_SERVER_NAME: "elsewhere" }))).toBe(
        "UNAVAILABLE",
      );
      expect(await checkHealth(server.address, "", 5_000, clientTransportFromEnv({ MLZERO_TLS_CA: certs.caCert }))).toBe("SERVING");
    } finally {
      await server.stop(100);
    }
  });

  it("with MLZERO_TLS_CLIENT_CA, requires a client certificate of that CA (mutual TLS)", async () => {
    const server = await startServer({
      MLZERO_TLS_CERT: certs.serverCert,
      MLZERO_TLS_KEY: certs.serverKey,
      MLZERO_TLS_CLIENT_CA: certs.caCert,
    });
    try {
      const ca = await pem(certs.caCert);
      // No client certificate: refused in the handshake.
      expect(await getWith(server, clientTlsTransport({ ca }))).toBe("UNAVAILABLE");
      // A certificate of a CA the server does not trust: refused.
      expect(
        await getWith(server, clientTlsTransport({ ca, cert: await pem(certs.strangerCert), key: await pem(certs.strangerKey) })),
      ).toBe("UNAVAILABLE");
      // The test CA's client certificate, given directly or through the environment.
      expect(await getWith(server, clientTlsTransport({ ca, cert: await pem(certs.clientCert), key: await pem(certs.clientKey) }))).toBe(
        "ok",
      );
      expect(
        await getWith(
          server,
          clientTransportFromEnv({ MLZERO_TLS_CA: certs.caCert, MLZERO_TLS_CERT: certs.clientCert, MLZERO_TLS_KEY: certs.clientKey }),
        ),
      ).toBe("ok");
      expect(await getWith(server, undefined)).toBe("UNAVAILABLE");
    } finally {
      await server.stop(100);
    }
  });

  it("answers health alone in plaintext on the health port, for probes that cannot speak TLS", async () => {
    const server = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      healthPort: 0,
      logger,
      services: [service],
      credentials: serverCredentialsFromEnv({ MLZERO_TLS_CERT: certs.serverCert, MLZERO_TLS_KEY: certs.serverKey }),
    });
    const healthAddress = `127.0.0.1:${server.healthPort}`;
    const plaintext = clientTransportFromEnv({});
    try {
      expect(server.healthPort).toBeGreaterThan(0);
      expect(await checkHealth(healthAddress, "", 5_000, plaintext)).toBe("SERVING");
      expect(await checkHealth(healthAddress, "mlzero.v1.TaskService", 5_000, plaintext)).toBe("SERVING");
      // Nothing else is there, and the main port still wants TLS.
      const onHealthPort = createClient(TaskService, healthAddress, { defaultTimeoutMs: 5_000 });
      try {
        await expect(onHealthPort.get({ taskId: "t1" })).rejects.toMatchObject({ codeName: "UNIMPLEMENTED" });
      } finally {
        onHealthPort.close();
      }
      expect(await getWith(server, undefined)).toBe("UNAVAILABLE");
      // Both ports tell the same status.
      server.setServing(false);
      expect(await checkHealth(healthAddress, "", 5_000, plaintext)).toBe("NOT_SERVING");
    } finally {
      await server.stop(100);
    }
    await expect(checkHealth(healthAddress, "", 1_000, plaintext)).rejects.toMatchObject({ codeName: "UNAVAILABLE" });
  });

  it("sends a client's default metadata with every call; a call's own wins", async () => {
    const server = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      logger,
      services: [service],
      credentials: serverTlsCredentials({ cert: await pem(certs.serverCert), key: await pem(certs.serverKey) }),
    });
    const transport = clientTlsTransport({ ca: await pem(certs.caCert) });
    const client = createClient(TaskService, server.address, {
      credentials: transport.credentials,
      metadata: { authorization: "Bearer default-token" },
    });
    try {
      expect((await client.get({ taskId: "t" })).task?.message).toBe("Bearer default-token");
      expect((await client.get({ taskId: "t" }, { metadata: { authorization: "Bearer other" } })).task?.message).toBe("Bearer other");
    } finally {
      client.close();
      await server.stop(100);
    }
  });

  it("serves a rotated certificate to new connections without a restart, once its key matches; a client takes a rotated CA alike", async () => {
    const live = path.join(dir, "live");
    const rotated = await generateTestCertificates(path.join(dir, "rotated"));
    await mkdir(live, { recursive: true });
    const install = async (from: TestCertificates, parts: ("crt" | "key")[] = ["crt", "key"]) => {
      if (parts.includes("crt")) await copyFile(from.serverCert, path.join(live, "tls.crt"));
      if (parts.includes("key")) await copyFile(from.serverKey, path.join(live, "tls.key"));
    };
    await install(certs);
    await copyFile(certs.caCert, path.join(live, "ca.crt"));
    const server = await startServer({
      MLZERO_TLS_CERT: path.join(live, "tls.crt"),
      MLZERO_TLS_KEY: path.join(live, "tls.key"),
      MLZERO_TLS_RELOAD_SECONDS: "0.05",
    });
    const trusting = async (of: TestCertificates) => getWith(server, clientTlsTransport({ ca: await pem(of.caCert) }));
    // A client that reads its CA file again, made before the rotation and used after it.
    const fromEnv = clientTransportFromEnv({ MLZERO_TLS_CA: path.join(live, "ca.crt"), MLZERO_TLS_RELOAD_SECONDS: "0.05" });
    // Its own subchannels per client: a new connection, not one grpc-js kept from the call before.
    const reloadingClient = { ...fromEnv, options: { ...fromEnv.options, "grpc.use_local_subchannel_pool": 1 } };
    try {
      expect(await trusting(certs)).toBe("ok");
      expect(await getWith(server, reloadingClient)).toBe("ok");
      // Halfway through an update (the new certificate, the old key): the old pair stays.
      await install(rotated, ["crt"]);
      await sleep(300);
      expect(await trusting(certs)).toBe("ok");
      await install(rotated, ["key"]);
      await sleep(300);
      expect(await trusting(rotated)).toBe("ok");
      expect(await trusting(certs)).toBe("UNAVAILABLE");
      expect(await getWith(server, reloadingClient)).toBe("UNAVAILABLE");
      await copyFile(rotated.caCert, path.join(live, "ca.crt"));
      await sleep(300);
      expect(await getWith(server, reloadingClient)).toBe("ok");
    } finally {
      await server.stop(100);
    }
  });

  it("is plaintext without the variables, and names the variable of a bad setting", () => {
    expect(serverCredentialsFromEnv({})._isSecure()).toBe(false);
    expect(clientTransportFromEnv({}).secure).toBe(false);
    expect(clientTransportFromEnv({ MLZERO_TLS: "true" }).secure).toBe(true);
    expect(() => serverCredentialsFromEnv({ MLZERO_TLS_CERT: certs.serverCert })).toThrow(
      /MLZERO_TLS_KEY is required with MLZERO_TLS_CERT/,
    );
    expect(() => serverCredentialsFromEnv({ MLZERO_TLS_CLIENT_CA: certs.caCert })).toThrow(/MLZERO_TLS_CLIENT_CA needs MLZERO_TLS_CERT/);
    expect(() => serverCredentialsFromEnv({ MLZERO_TLS_CERT: path.join(dir, "missing.crt"), MLZERO_TLS_KEY: certs.serverKey })).toThrow(
      /MLZERO_TLS_CERT: cannot read .*missing\.crt \(ENOENT\)/,
    );
    expect(() => clientTransportFromEnv({ MLZERO_TLS_CA: path.join(dir, "server.ext") })).toThrow(/MLZERO_TLS_CA: .* is not a PEM file/);
    expect(() => clientTransportFromEnv({ MLZERO_TLS: "yes" })).toThrow(/MLZERO_TLS must be true or false/);
    expect(() => serverCredentialsFromEnv({ MLZERO_TLS_CERT: certs.serverCert, MLZERO_TLS_KEY: certs.clientKey })).toThrow(
      /MLZERO_TLS_KEY is not the private key of the certificate in MLZERO_TLS_CERT/,
    );
    expect(() =>
      serverCredentialsFromEnv({ MLZERO_TLS_CERT: certs.serverCert, MLZERO_TLS_KEY: certs.serverKey, MLZERO_TLS_RELOAD_SECONDS: "soon" }),
    ).toThrow(/MLZERO_TLS_RELOAD_SECONDS must be a number of seconds/);
  });
});
