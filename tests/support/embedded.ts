import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startEmbeddedSystem, type EmbeddedSystem } from "@mlzero/cli";
import { createSilentLogger } from "@mlzero/logging";
import { REPO_ROOT } from "./run-cli.js";

/** All six services in this process, each also serving gRPC on 127.0.0.1. */
export async function startTestSystem(): Promise<EmbeddedSystem & { workspaceRoot: string }> {
  const workspaceRoot = await mkdtemp(path.join(os.tmpdir(), "mlzero-ws-"));
  const system = await startEmbeddedSystem({
    workspaceRoot,
    pythonBin: path.join(REPO_ROOT, ".venv", "bin", "python"),
    logger: createSilentLogger(),
    defaults: { maxIterations: 5, timeLimitSeconds: 900, iterationTimeLimitSeconds: 240, memoryLimitBytes: 6 * 1024 ** 3 },
    serveGrpc: true,
  });
  return { ...system, workspaceRoot };
}
