import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { checkHealth } from "@mlzero/rpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, runCli, type CliResult } from "../support/run-cli.js";
import { describeRun, freePort, portIsFree } from "./cli-helpers.js";

// scripts/cluster.sh's mechanics (make up / make down / make status) without
// a broker: MLZERO_BUS=inprocess starts every service as its own background
// process on its own bus. Start, an idempotent second start, a restart of
// only what died, status, and a clean stop.

const SERVICES = ["gateway", "perception", "memory", "coder", "executor", "analyzer"] as const;
type ServiceName = (typeof SERVICES)[number];

/** A live process: not gone, and not a zombie waiting for init to reap it (the script that started it has exited). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, "utf8") : "";
  // The state follows the parenthesised command name, which may itself hold spaces.
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

/** Six consecutive free ports on 127.0.0.1, away from the defaults a real cluster uses. */
async function freePortRange(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const free = await Promise.all(SERVICES.map((_, index) => portIsFree(base + index)));
    if (free.every(Boolean)) return base;
  }
  throw new Error("no six consecutive free ports");
}

describe("scripts/cluster.sh up, status and down", () => {
  let runDir: string;
  let basePort: number;
  let dashboardPort: number;
  /** Every pid the script started, so afterAll can kill whatever a failing test left. */
  const seen = new Set<number>();

  const cluster = (command: string): Promise<CliResult> => {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(path.join(REPO_ROOT, "scripts", "cluster.sh"), [command], {
        cwd: REPO_ROOT,
        env: {
          ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("MLZERO_"))),
          MLZERO_RUN_DIR: runDir,
          MLZERO_BUS: "inprocess",
          MLZERO_CLUSTER_BASE_PORT: String(basePort),
          MLZERO_CLUSTER_DASHBOARD_PORT: String(dashboardPort),
          MLZERO_LOG_LEVEL: "warn",
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr, wallMs: Date.now() - started }));
    });
  };

  const pidFile = (name: ServiceName) => path.join(runDir, "pids", `${name}.pid`);
  const pids = (): Record<ServiceName, number> => {
    const found = {} as Record<ServiceName, number>;
    for (const name of SERVICES) {
      found[name] = Number(readFileSync(pidFile(name), "utf8").trim());
      seen.add(found[name]);
    }
    return found;
  };
  const address = (name: ServiceName) => `127.0.0.1:${basePort + SERVICES.indexOf(name)}`;

  beforeAll(async () => {
    runDir = await mkdtemp(path.join(os.tmpdir(), "mlzero-cluster-"));
    basePort = await freePortRange();
    dashboardPort = await freePort();
  });

  afterAll(async () => {
    for (const pid of seen) {
      if (isAlive(pid)) process.kill(pid, "SIGKILL");
    }
    await rm(runDir, { recursive: true, force: true });
  });

  it("up starts every service as its own process, SERVING, and says how to use it", async () => {
    const result = await cluster("up");
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stdout).toContain(`export MLZERO_GATEWAY_ADDRESS=${address("gateway")}; npx mlzero submit examples/churn --wait`);
    expect(result.stdout).toContain(`cluster: dashboard: http://127.0.0.1:${dashboardPort}/`);
    const started = pids();
    expect(new Set(Object.values(started)).size).toBe(6);
    for (const name of SERVICES) {
      expect(isAlive(started[name]), name).toBe(true);
      expect(await checkHealth(address(name)), name).toBe("SERVING");
      expect(existsSync(path.join(runDir, "logs", `${name}.log`)), name).toBe(true);
    }
    console.info(`cluster up: ${(result.wallMs / 1000).toFixed(1)} s`);
  });

  it("the CLI talks to the gateway it started", async () => {
    const result = await runCli(["ls"], { env: { MLZERO_GATEWAY_ADDRESS: address("gateway") }, timeoutMs: 30_000 });
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stdout.trim()).toBe("no tasks");
  });

  it("the gateway serves the dashboard, and up and status say where", async () => {
    const url = `http://127.0.0.1:${dashboardPort}/`;
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<title>mlzero dashboard</title>");
    expect(await (await fetch(new URL("api/tasks", url))).json()).toEqual({});
    const status = await cluster("status");
    expect(status.stdout).toContain(`dashboard: ${url}`);
  });

  it("up again starts nothing that is running", async () => {
    const before = pids();
    const result = await cluster("up");
    expect(result.code, describeRun(result)).toBe(0);
    for (const name of SERVICES) expect(result.stdout).toContain(`${name} already running (pid ${before[name]})`);
    expect(result.stdout).not.toMatch(/ started \(pid/);
    expect(pids()).toEqual(before);
  });

  it("status shows a dead service, and up restarts only that one", async () => {
    const before = pids();
    process.kill(before.coder, "SIGKILL");
    await expect.poll(() => isAlive(before.coder)).toBe(false);

    const status = await cluster("status");
    expect(status.code, describeRun(status)).toBe(1);
    expect(status.stdout).toMatch(/^coder\s+-\s+\S+\s+stopped$/m);
    expect(status.stdout).toMatch(new RegExp(`^gateway\\s+${before.gateway}\\s+${address("gateway")}\\s+SERVING$`, "m"));

    const result = await cluster("up");
    expect(result.code, describeRun(result)).toBe(0);
    const after = pids();
    expect(after.coder).not.toBe(before.coder);
    expect(isAlive(after.coder)).toBe(true);
    expect({ ...after, coder: 0 }).toEqual({ ...before, coder: 0 });
    expect(result.stdout).toMatch(/coder started \(pid \d+/);

    const healthy = await cluster("status");
    expect(healthy.code, describeRun(healthy)).toBe(0);
    for (const name of SERVICES) expect(healthy.stdout).toMatch(new RegExp(`^${name}\\s+${after[name]}\\s+\\S+\\s+SERVING$`, "m"));
  });

  it("down stops every service with SIGTERM and forgets their pids", async () => {
    const before = pids();
    const result = await cluster("down");
    expect(result.code, describeRun(result)).toBe(0);
    for (const name of SERVICES) {
      expect(result.stdout).toContain(`${name} stopped`);
      expect(isAlive(before[name]), name).toBe(false);
      expect(existsSync(pidFile(name)), name).toBe(false);
    }
    // A service that drained on SIGTERM logs that it stopped (none needed SIGKILL).
    expect(result.stdout).not.toContain("SIGKILL");
    expect(readFileSync(path.join(runDir, "logs", "memory.log"), "utf8")).not.toMatch(/"level":(5|6)0/);

    const status = await cluster("status");
    expect(status.code).toBe(1);
    for (const name of SERVICES) expect(status.stdout).toMatch(new RegExp(`^${name}\\s+-\\s+\\S+\\s+stopped$`, "m"));

    const again = await cluster("down");
    expect(again.code, describeRun(again)).toBe(0);
    expect(again.stdout).toContain("no service was running");
  });

  it("up says which service could not start, with the end of its log", async () => {
    // Something else holds the gateway's port.
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(basePort, "127.0.0.1", resolve));
    try {
      const result = await cluster("up");
      expect(result.code, describeRun(result)).toBe(1);
      expect(result.stderr).toContain("gateway exited before serving");
      expect(result.stderr).toContain(`gateway: cannot serve on 127.0.0.1:${basePort}`);
      expect(result.stderr).toMatch(/gateway did not start .*make down/);
    } finally {
      squatter.close();
      pids();
      const down = await cluster("down");
      expect(down.code, describeRun(down)).toBe(0);
    }
  });
});
