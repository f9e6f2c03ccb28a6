import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { ExecutorService } from "@mlzero/proto";
import { checkHealth, createClient } from "@mlzero/rpc";
import { afterAll, describe, expect, it } from "vitest";
import { NODE_BIN, REPO_ROOT } from "../support/run-cli.js";

// The executor's main as a real process, killed with SIGKILL while its
// program runs: the program lives on (its own session), the restarted
// executor adopts it at start, and the repeated Execute call gets the
// program's real result without a second launch.

const PYTHON = path.join(REPO_ROOT, ".venv", "bin", "python");
const children: ChildProcess[] = [];
let workspaceRoot: string | undefined;

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}

async function startExecutor(root: string, port: number): Promise<ChildProcess> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("MLZERO_")));
  const child = spawn(NODE_BIN, [path.join(REPO_ROOT, "services", "executor", "dist", "main.js")], {
    cwd: REPO_ROOT,
    env: { ...env, MLZERO_GRPC_PORT: String(port), MLZERO_LOG_LEVEL: "warn", MLZERO_WORKSPACE_ROOT: root, MLZERO_PYTHON: PYTHON },
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  children.push(child);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`executor exited with ${child.exitCode}`);
    if ((await checkHealth(`127.0.0.1:${port}`, "", 1_000).catch(() => "")) === "SERVING") return child;
    await sleep(100);
  }
  throw new Error("executor did not serve in time");
}

/** The executor's run record (run.json) and the launcher's launches.log in an iteration folder. */
async function runRecord(dir: string): Promise<{ state: string; process?: { pid: number } }> {
  return JSON.parse(await readFile(path.join(dir, "run.json"), "utf8")) as { state: string; process?: { pid: number } };
}

async function launches(dir: string): Promise<string[]> {
  return (await readFile(path.join(dir, "launches.log"), "utf8")).split("\n").filter(Boolean);
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3));
  } catch {
    return false;
  }
}

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGKILL");
  }
  if (workspaceRoot) {
    const dir = path.join(workspaceRoot, "acme", "task-1", "iter-001");
    await writeFile(path.join(dir, "go"), "").catch(() => undefined);
    await sleep(200);
    await rm(workspaceRoot, { recursive: true, force: true });
  }
});

describe("the executor process killed with SIGKILL while its program runs", () => {
  it("adopts the run after a restart: the program ran once and its real exit status comes back", async () => {
    workspaceRoot = await mkdtemp(path.join(os.tmpdir(), "mlzero-executor-crash-"));
    const dir = path.join(workspaceRoot, "acme", "task-1", "iter-001");
    const code = [
      "import os, sys, time",
      "print('started', flush=True)",
      "while not os.path.exists('go'): time.sleep(0.05)",
      "print('done', flush=True)",
      "sys.exit(6)",
    ].join("\n");
    const request = {
      taskId: "task-1",
      tenant: "acme",
      iteration: 1,
      program: { candidateId: "iter-001-test", tool: "test", code, launcher: "python main.py" },
      timeLimit: durationFromMs(60_000),
    };

    const port = await freePort();
    const first = await startExecutor(workspaceRoot, port);
    const client = createClient(ExecutorService, `127.0.0.1:${port}`);
    const lost = client.execute(request).catch((error: unknown) => error);
    const stdout = path.join(dir, "stdout.log");
    for (let waited = 0; !(existsSync(stdout) && readFileSync(stdout, "utf8").includes("started")); waited += 50) {
      if (waited > 20_000) throw new Error("the program did not start");
      await sleep(50);
    }
    process.kill(-first.pid!, "SIGKILL");
    await once(first, "exit");
    expect(await lost).toBeInstanceOf(Error);
    const launcher = (await runRecord(dir)).process!.pid;
    expect(alive(launcher)).toBe(true); // the run outlived its executor

    await startExecutor(workspaceRoot, port);
    const again = client.execute(request);
    await sleep(300);
    await writeFile(path.join(dir, "go"), "");
    const { result } = await again;
    expect(result).toMatchObject({ exitCode: 6, interrupted: false, stdoutTail: "started\ndone" });
    expect(await launches(dir)).toHaveLength(1);
    expect((await runRecord(dir)).state).toBe("reported");
  });
});
