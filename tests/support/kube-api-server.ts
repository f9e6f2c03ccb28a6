import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "@mlzero/bus-kafka/broker";
import { REPO_ROOT } from "./run-cli.js";

/** A running etcd and kube-apiserver on 127.0.0.1, for tests. */
export interface KubeApiServer {
  /** Cluster-admin kubeconfig (token auth, the generated CA). */
  kubeconfig: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** The generated CA, and a serving certificate for 127.0.0.1 it signed (ca.crt, apiserver.crt/.key). */
  pkiDir: string;
  /**
   * Compacts etcd's history up to now, so a watch from an older resource
   * version gets 410 Gone (for ConfigMaps, which the API server does not
   * cache here; see scripts/kube.sh).
   */
  compactEtcd(): Promise<void>;
  /** Stops both and removes their folder. Safe to call twice. */
  stop(): Promise<void>;
}

const SCRIPT = path.join(REPO_ROOT, "scripts", "kube.sh");

/**
 * Starts a Kubernetes API server through `scripts/kube.sh` (binaries built
 * once from infra/kube and cached) on free ports, in a fresh folder. There is
 * no kubelet and no controller manager: a test plays them, creating pods and
 * writing Job and pod status the way envtest-based controller tests do.
 */
export async function startKubeApiServer(): Promise<KubeApiServer> {
  const runDir = await mkdtemp(path.join(tmpdir(), "mlzero-kube-"));
  const [apiPort, etcdPort, etcdPeerPort] = [await freePort(), await freePort(), await freePort()];
  const env = {
    ...process.env,
    KUBE_RUN_DIR: runDir,
    KUBE_API_PORT: String(apiPort),
    KUBE_ETCD_PORT: String(etcdPort),
    KUBE_ETCD_PEER_PORT: String(etcdPeerPort),
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await runScript("stop", env).catch(() => undefined);
    await rm(runDir, { recursive: true, force: true });
  };
  try {
    await runScript("start", env);
  } catch (error) {
    await stop();
    throw error;
  }
  const etcd = async (method: string, body: unknown) => {
    const response = await fetch(`http://127.0.0.1:${etcdPort}/v3/${method}`, { method: "POST", body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`etcd ${method}: ${response.status} ${await response.text()}`);
    return (await response.json()) as { header: { revision: string } };
  };
  return {
    kubeconfig: path.join(runDir, "kubeconfig"),
    server: `https://127.0.0.1:${apiPort}`,
    pkiDir: path.join(runDir, "pki"),
    async compactEtcd() {
      const { header } = await etcd("kv/range", { key: Buffer.from("/").toString("base64") });
      await etcd("kv/compaction", { revision: header.revision });
    },
    stop,
  };
}

/** Runs `scripts/kube.sh <command>`; a failure carries the script's own message. */
function runScript(command: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    // A first start on a fresh machine builds kube-apiserver: minutes.
    execFile("bash", [SCRIPT, command], { env, timeout: 900_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`scripts/kube.sh ${command} failed: ${stderr.trim() || error.message}`, { cause: error }));
      else resolve();
    });
  });
}
