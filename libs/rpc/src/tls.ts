import { readFileSync } from "node:fs";
import { ServerCredentials, credentials, experimental, type ChannelCredentials, type ChannelOptions } from "@grpc/grpc-js";
import { ReloadingCertificateFiles, certificateMatchesKey } from "./certificate-files.js";

export { ReloadingCertificateFiles } from "./certificate-files.js";

/**
 * TLS of every gRPC server and client, from the environment:
 *
 * - `MLZERO_TLS_CERT`, `MLZERO_TLS_KEY`: this process's certificate chain
 *   and private key (PEM files). A server serves TLS with them; a client
 *   using TLS presents them as its client certificate.
 * - `MLZERO_TLS_CLIENT_CA`: a server requires a client certificate signed by
 *   this CA (mutual TLS, `checkClientCertificate` on). Needs the two above.
 * - `MLZERO_TLS_RELOAD_SECONDS`: servers and clients read their files again
 *   this often (default 60; 0: never) and use a rotated certificate or CA
 *   for new connections without a restart.
 * - `MLZERO_TLS_CA`: a client verifies servers against this CA, and so
 *   dials with TLS. `MLZERO_TLS=true` dials with TLS against the system's
 *   roots instead.
 * - `MLZERO_TLS_SERVER_NAME`: the name a client expects in the server's
 *   certificate, when it is not the host it dials (e.g. `gateway` while
 *   dialing 127.0.0.1 through a port-forward).
 *
 * None set: plaintext, as before.
 */
export const TLS_ENV = [
  "MLZERO_TLS_CERT",
  "MLZERO_TLS_KEY",
  "MLZERO_TLS_CLIENT_CA",
  "MLZERO_TLS_RELOAD_SECONDS",
  "MLZERO_TLS_CA",
  "MLZERO_TLS",
  "MLZERO_TLS_SERVER_NAME",
];

/** A client's transport security: credentials and the channel options that go with them. */
export interface ClientTransport {
  credentials: ChannelCredentials;
  options: ChannelOptions;
  /** True when the channel uses TLS. */
  secure: boolean;
}

/** What a server or client's TLS is made of, as PEM bytes. */
export interface TlsMaterial {
  /** Certificate chain (server: its certificate; client: its client certificate). */
  cert?: Buffer;
  key?: Buffer;
  /** Server: the CA a client certificate must chain to (mutual TLS). Client: the CA the server's must chain to. */
  ca?: Buffer;
}

/**
 * This process's own certificate and key from `MLZERO_TLS_CERT` and
 * `MLZERO_TLS_KEY`, read again as `MLZERO_TLS_RELOAD_SECONDS` says, for a
 * server other than gRPC (the gateway's dashboard) to serve HTTPS with the
 * same identity; undefined without them.
 */
export function serverIdentityFromEnv(env: NodeJS.ProcessEnv = process.env): ReloadingCertificateFiles | undefined {
  const { cert, key } = identityFromEnv(env);
  return cert && key ? watchedFiles(env, { cert, key }) : undefined;
}

/** Server credentials from the `MLZERO_TLS_*` variables: TLS with a certificate, mutual TLS with a client CA too, else plaintext. */
export function serverCredentialsFromEnv(env: NodeJS.ProcessEnv = process.env): ServerCredentials {
  const { cert, key } = identityFromEnv(env);
  const clientCa = readPem(env, "MLZERO_TLS_CLIENT_CA");
  if (!cert || !key) {
    if (clientCa)
      throw new Error(
        "invalid TLS configuration: MLZERO_TLS_CLIENT_CA needs MLZERO_TLS_CERT and MLZERO_TLS_KEY (the server's own certificate)",
      );
    return ServerCredentials.createInsecure();
  }
  const files = watchedFiles(env, { cert, key, ca: clientCa }, "MLZERO_TLS_CLIENT_CA");
  // grpc-js (1.14) hands this factory's first argument on as the identity
  // provider and the second as the CA's, whatever its typings call them.
  return experimental.createCertificateProviderServerCredentials(files, clientCa ? files : null, Boolean(clientCa));
}

function reloadSeconds(env: NodeJS.ProcessEnv): number {
  const text = env.MLZERO_TLS_RELOAD_SECONDS?.trim();
  if (!text) return 60;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new Error(
      `invalid TLS configuration: MLZERO_TLS_RELOAD_SECONDS must be a number of seconds (0: never), got ${JSON.stringify(text)}`,
    );
  }
  return seconds;
}

/** TLS server credentials; with `ca`, every client must present a certificate signed by it. */
export function serverTlsCredentials(material: TlsMaterial): ServerCredentials {
  if (!material.cert || !material.key) throw new Error("a TLS server needs a certificate and a key");
  return ServerCredentials.createSsl(material.ca ?? null, [{ cert_chain: material.cert, private_key: material.key }], Boolean(material.ca));
}

/** Client credentials from the `MLZERO_TLS_*` variables: TLS when `MLZERO_TLS_CA` or `MLZERO_TLS=true` is set, else plaintext. */
export function clientTransportFromEnv(env: NodeJS.ProcessEnv = process.env): ClientTransport {
  const ca = readPem(env, "MLZERO_TLS_CA");
  const flag = env.MLZERO_TLS?.trim().toLowerCase();
  if (flag && !["true", "false", "1", "0"].includes(flag)) {
    throw new Error(`invalid TLS configuration: MLZERO_TLS must be true or false, got ${JSON.stringify(env.MLZERO_TLS)}`);
  }
  if (!ca && flag !== "true" && flag !== "1") return { credentials: credentials.createInsecure(), options: {}, secure: false };
  const { cert, key } = identityFromEnv(env);
  const serverName = env.MLZERO_TLS_SERVER_NAME?.trim() || undefined;
  // Against the system's roots: nothing of ours to rotate but a client certificate, read at start.
  if (!ca) return clientTlsTransport({ cert, key }, serverName);
  const files = watchedFiles(env, { cert, key, ca }, "MLZERO_TLS_CA");
  return {
    credentials: experimental.createCertificateProviderChannelCredentials(files, cert ? files : null),
    options: serverNameOptions(serverName),
    secure: true,
  };
}

/** A TLS client: verifies the server against `ca` (the system's roots without one), presents `cert` when given. */
export function clientTlsTransport(material: TlsMaterial, serverName?: string): ClientTransport {
  return {
    credentials: credentials.createSsl(material.ca ?? null, material.key ?? null, material.cert ?? null),
    options: serverNameOptions(serverName),
    secure: true,
  };
}

/** Channel options that make a client expect `serverName` in the server's certificate instead of the host it dials. */
function serverNameOptions(serverName: string | undefined): ChannelOptions {
  return serverName ? { "grpc.ssl_target_name_override": serverName, "grpc.default_authority": serverName } : {};
}

/**
 * The files behind `material` (this process's certificate and key, and the
 * CA named by `caVariable`), read again as `MLZERO_TLS_RELOAD_SECONDS` says.
 * The key must be the certificate's: else every handshake would fail
 * later, less clearly.
 */
function watchedFiles(env: NodeJS.ProcessEnv, material: TlsMaterial, caVariable?: string): ReloadingCertificateFiles {
  if (material.cert && material.key && !certificateMatchesKey(material.cert, material.key)) {
    throw new Error("invalid TLS configuration: MLZERO_TLS_KEY is not the private key of the certificate in MLZERO_TLS_CERT");
  }
  return new ReloadingCertificateFiles(
    { certFile: fileOf(env, "MLZERO_TLS_CERT"), keyFile: fileOf(env, "MLZERO_TLS_KEY"), caFile: caVariable && fileOf(env, caVariable) },
    material,
    reloadSeconds(env) * 1000,
  );
}

/** The file a variable names, trimmed; undefined when unset. */
function fileOf(env: NodeJS.ProcessEnv, name: string): string | undefined {
  return env[name]?.trim() || undefined;
}

function identityFromEnv(env: NodeJS.ProcessEnv): { cert?: Buffer; key?: Buffer } {
  const cert = readPem(env, "MLZERO_TLS_CERT");
  const key = readPem(env, "MLZERO_TLS_KEY");
  if (Boolean(cert) !== Boolean(key)) {
    throw new Error(
      `invalid TLS configuration: ${cert ? "MLZERO_TLS_KEY" : "MLZERO_TLS_CERT"} is required with ${cert ? "MLZERO_TLS_CERT" : "MLZERO_TLS_KEY"}`,
    );
  }
  return { cert, key };
}

/** The PEM file a variable names; undefined when unset; an error naming the variable when unreadable. */
function readPem(env: NodeJS.ProcessEnv, name: string): Buffer | undefined {
  const file = fileOf(env, name);
  if (!file) return undefined;
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (error) {
    throw new Error(`invalid TLS configuration: ${name}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (!content.includes("-----BEGIN ")) throw new Error(`invalid TLS configuration: ${name}: ${file} is not a PEM file`);
  return content;
}
