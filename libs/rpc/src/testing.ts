import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

// Test helpers: certificates for TLS and mutual TLS tests, made with the
// machine's openssl (no download), valid for 127.0.0.1 and localhost.

import { RpcError } from "./service-errors.js";

const run = promisify(execFile);

/** PEM files of a test PKI: a CA, a server and a client certificate it signed, and a stranger signed by another CA. */
export interface TestCertificates {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate signed by a CA the servers do not trust. */
  strangerCert: string;
  strangerKey: string;
}

/** Makes a fresh CA, server, client and stranger certificate in `dir` (EC P-256, valid one day). */
export async function generateTestCertificates(dir: string): Promise<TestCertificates> {
  await mkdir(dir, { recursive: true });
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => run("openssl", args, { cwd: dir });
  const key = (name: string) => openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", file(name));
  const ca = async (name: string) => {
    await key(`${name}.key`);
    await openssl("req", "-x509", "-new", "-key", file(`${name}.key`), "-days", "1", "-subj", `/CN=${name}`, "-out", file(`${name}.crt`));
  };
  const signed = async (name: string, signer: string, extensions: string) => {
    await key(`${name}.key`);
    await openssl("req", "-new", "-key", file(`${name}.key`), "-subj", `/CN=${name}`, "-out", file(`${name}.csr`));
    const ext = file(`${name}.ext`);
    await writeFile(ext, extensions);
    await openssl(
      "x509",
      "-req",
      "-in",
      file(`${name}.csr`),
      "-CA",
      file(`${signer}.crt`),
      "-CAkey",
      file(`${signer}.key`),
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      ext,
      "-out",
      file(`${name}.crt`),
    );
  };
  await ca("test-ca");
  await ca("other-ca");
  await signed("server", "test-ca", "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:gateway\nextendedKeyUsage=serverAuth,clientAuth\n");
  await signed("client", "test-ca", "extendedKeyUsage=clientAuth\n");
  await signed("stranger", "other-ca", "extendedKeyUsage=clientAuth\n");
  return {
    dir,
    caCert: file("test-ca.crt"),
    serverCert: file("server.crt"),
    serverKey: file("server.key"),
    clientCert: file("client.crt"),
    clientKey: file("client.key"),
    strangerCert: file("stranger.crt"),
    strangerKey: file("stranger.key"),
  };
}

/** How a call ended, for assertions on status codes: `OK`, or the RpcError's code name and message (anything else is thrown). */
export async function callOutcome(call: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await call;
    return { code: "OK", message: "" };
  } catch (error) {
    if (!(error instanceof RpcError)) throw error;
    return { code: error.codeName, message: error.message };
  }
}
