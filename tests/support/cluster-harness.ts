import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readdirSync, readFileSync, readlinkSync, type WriteStream } from "node:fs";
import { mkdir, mkdtemp, realpath, rm } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { checkHealth } from "@mlzero/rpc";
import { startKafkaBroker, type KafkaBroker } from "./kafka-broker.js";
import { NODE_BIN, REPO_ROOT } from "./run-cli.js";

// The six services as separate processes on one Kafka broker (or each on
// its own in-process bus), the way scripts/cluster.sh runs them, for the
// distributed tests: start, stop, kill -9 and restart any one by name, logs
// kept for failure messages, and nothing left behind (service, program or
// broker) whatever a test did. docs/kafka.md tells how the tests use it.

/** The services, in the order scripts/cluster.sh numbers their ports. */
export const SERVICE_NAMES = ["gateway", "perception", "memory", "coder", "executor", "analyzer"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** The executor's Python: the project's virtualenv, as `make up` uses. */
export const PYTHON = path.join(REPO_ROOT, ".venv", "bin", "python");

/** Options for {@link startCluster}. */
export interface ClusterOptions {
  /**
   * Kafka bootstrap addresses; the services run on MLZERO_BUS=kafka against
   * them. Left out: MLZERO_BUS=inprocess, each service alone on its own bus
   * (its gRPC API only; no task flows).
   */
  brokers?: string[];
  /** Extra variables for one service (e.g. budget defaults, an executor concurrency). */
  env?: Partial<Record<ServiceName, Record<string, string>>>;
  /**
   * Where the gateway keeps its task state (MLZERO_GATEWAY_STATE): default
   * kafka (the compacted topic) on a broker, file (under `gatewayStateDir`)
   * on the in-process bus.
   */
  gatewayState?: "kafka" | "file" | "memory";
  /** The services' log level (default info: the logs are what a failure message shows). */
  logLevel?: string;
  /** How long a service may take to answer SERVING (default 60 s; a loaded 2-core box is slow to start Node). */
  startTimeoutMs?: number;
  /** Start every service before resolving (default true). */
  startAll?: boolean;
}

/** A test cluster: six service processes, each startable, killable and restartable by name. */
export interface Cluster {
  /** Temporary folder of everything below; removed by {@link Cluster.close}. */
  root: string;
  /** MLZERO_WORKSPACE_ROOT of gateway, perception, executor and analyzer. */
  workspaceRoot: string;
  /** MLZERO_GATEWAY_STATE_DIR: the file store's folder, when the gateway keeps its task state in files. */
  gatewayStateDir: string;
  /** The broker's addresses; empty on the in-process bus. */
  brokers: string[];
  /** host:port of a service; fixed for the cluster's life, across restarts. */
  address(name: ServiceName): string;
  /** Pid of the service's current process, when one runs. */
  pid(name: ServiceName): number | undefined;
  isRunning(name: ServiceName): boolean;
  /** How many processes of this service were started so far. */
  starts(name: ServiceName): number;
  /** Starts the service (it must not be running) and waits until it answers SERVING. */
  start(name: ServiceName): Promise<void>;
  /** Starts every service that is not running: memory first (perception and coder call it), then the rest at once. */
  startAll(): Promise<void>;
  /** Kills the service with SIGKILL (kill -9), as a crash would, and waits until it is gone. */
  kill(name: ServiceName): Promise<void>;
  /** Stops the service with SIGTERM (SIGKILL after a grace period) and waits until it is gone; resolves with how it exited. */
  stop(name: ServiceName): Promise<ServiceExit | undefined>;
  /** kill -9, then start again on the same port, workspace and state. */
  restart(name: ServiceName): Promise<void>;
  /** Sets variables of a service for its next starts (over the cluster's own). */
  setEnv(name: ServiceName, vars: Record<string, string>): void;
  /** The last `lines` lines the service printed over all its lives (default 40). */
  logTail(name: ServiceName, lines?: number): string;
  /** Every service's warnings and errors (pino level >= 40) and how each process ended, for assertion messages. */
  report(): string;
  /**
   * Lines at level error or fatal that a service logged, over all its lives,
   * but for a kafkajs consumer crash it restarts from by itself (on a fresh
   * broker: "the coordinator is loading").
   */
  errorLines(name: ServiceName): string[];
  /** CPU seconds (user + system) the service's current process has used so far. */
  cpuSeconds(name: ServiceName): number;
  /** Kills every service process and every program still running under the workspace, then removes the folder. */
  close(): Promise<void>;
}

/** How a service process ended. */
export interface ServiceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One service process as spawned: its own process group, its output piped. */
export interface ServiceProcess {
  name: ServiceName;
  child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  stderr(): string;
  /** Resolves once the process has exited and its pipes are closed. */
  closed: Promise<ServiceExit>;
}

/** The parent's environment without any MLZERO_* variable, so nothing leaks into a service's config. */
export function serviceBaseEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("MLZERO_")));
}

/**
 * Spawns `services/<name>/dist/main.js` with exactly `env` (see
 * {@link serviceBaseEnv}). detached: the service leads its own process
 * group, away from the test runner's signals, so it can be killed with
 * whatever it started and a test can tell that nothing is left.
 */
export function spawnServiceProcess(name: ServiceName, env: NodeJS.ProcessEnv, onOutput?: (text: string) => void): ServiceProcess {
  // kafkajs arms a timer with a negative delay that Node 24 warns about once per process; harmless.
  const child = spawn(NODE_BIN, ["--disable-warning=TimeoutNegativeWarning", path.join(REPO_ROOT, "services", name, "dist", "main.js")], {
    cwd: REPO_ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    onOutput?.(chunk.toString());
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    stderr += chunk.toString();
    onOutput?.(chunk.toString());
  });
  const closed = new Promise<ServiceExit>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  return { name, child, output: () => output, stderr: () => stderr, closed };
}

/** Waits until a spawned service answers SERVING at `address` (over `transport`, e.g. TLS), at most `timeoutMs`. */
export async function waitUntilServing(
  service: ServiceProcess,
  address: string,
  transport?: Parameters<typeof checkHealth>[3],
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await checkHealth(address, "", 1_000, transport).catch(() => "")) !== "SERVING") {
    if (Date.now() > deadline) throw new Error(`${service.name} did not serve\n${service.output()}`);
    await sleep(200);
  }
}

/** Kills a spawned service that still runs, and waits for it to exit. */
export async function killServiceProcess(service: ServiceProcess | undefined): Promise<void> {
  if (!service || service.child.exitCode !== null) return;
  service.child.kill("SIGKILL");
  await service.closed;
}

/**
 * Starts a service with a configuration it should reject and waits for it
 * to exit (at most `timeoutMs`, then it is killed and this rejects).
 */
export async function runServiceToExit(
  name: ServiceName,
  env: Record<string, string>,
  timeoutMs = 10_000,
): Promise<ServiceExit & { stderr: string; output: string }> {
  const service = spawnServiceProcess(name, {
    ...serviceBaseEnv(),
    MLZERO_GRPC_HOST: "127.0.0.1",
    MLZERO_GRPC_PORT: String(await freePort(new Set())),
    MLZERO_LOG_LEVEL: "warn",
    ...env,
  });
  const timer = setTimeout(() => killGroup(service.child.pid), timeoutMs);
  const exit = await service.closed;
  clearTimeout(timer);
  if (exit.signal === "SIGKILL") throw new Error(`${name} did not exit within ${timeoutMs} ms\n${service.output()}`);
  return { ...exit, stderr: service.stderr(), output: service.output() };
}

/** True while the process exists and is not a zombie (killed, not yet reaped). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3));
  } catch {
    return false;
  }
}

/** True while any process of the group led by `pid` lives (a zombie leader counts as gone, its members not). */
export function groupAlive(pid: number): boolean {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Field 5 is the process group; fields after the name start at field 3.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pid && fields[0] !== "Z") return true;
    } catch {
      // Gone meanwhile.
    }
  }
  return false;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/** One life of a service. */
interface Life {
  child: ChildProcess;
  closed: Promise<ServiceExit>;
}

const STOP_GRACE_MS = 10_000;
const MAX_LOG_CHARS = 2_000_000;

/** Every cluster a test file started that is not closed yet, killed when the test process exits however it exits. */
const openClusters = new Set<{ killAllSync(): void }>();
process.on("exit", () => {
  for (const cluster of openClusters) cluster.killAllSync();
});

/**
 * Starts the six services as their own processes on the given broker (see
 * {@link ClusterOptions}); resolves once every one answers SERVING. Call
 * `close()` in `afterAll`: it runs even after a failed test and leaves no
 * process behind.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const root = await realpath(await mkdtemp(path.join(os.tmpdir(), "mlzero-dist-")));
  const workspaceRoot = path.join(root, "workspace");
  const gatewayStateDir = path.join(root, "gateway");
  const logDir = path.join(root, "logs");
  await Promise.all([workspaceRoot, gatewayStateDir, logDir, path.join(root, "memory")].map((dir) => mkdir(dir, { recursive: true })));
  const ports = {} as Record<ServiceName, number>;
  const taken = new Set<number>();
  for (const name of SERVICE_NAMES) {
    ports[name] = await freePort(taken);
    taken.add(ports[name]);
  }
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const brokers = options.brokers ?? [];
  const extraEnv = new Map<ServiceName, Record<string, string>>();
  const lives = new Map<ServiceName, Life>();
  const startCounts = new Map<ServiceName, number>();
  const output = new Map<ServiceName, string>();
  const exits: string[] = [];
  const logFiles = new Map<ServiceName, WriteStream>();
  let closed = false;

  const address = (name: ServiceName) => `127.0.0.1:${ports[name]}`;

  function envOf(name: ServiceName): NodeJS.ProcessEnv {
    const workspace = { MLZERO_WORKSPACE_ROOT: workspaceRoot };
    const memory = { MLZERO_MEMORY_ADDRESS: address("memory") };
    const own: Record<ServiceName, Record<string, string>> = {
      gateway: {
        ...workspace,
        MLZERO_GATEWAY_STATE: options.gatewayState ?? (brokers.length > 0 ? "kafka" : "file"),
        MLZERO_GATEWAY_STATE_DIR: gatewayStateDir,
      },
      perception: { ...workspace, ...memory },
      memory: { MLZERO_MEMORY_STORE_FILE: path.join(root, "memory", "store.json") },
      coder: memory,
      executor: { ...workspace, MLZERO_PYTHON: PYTHON },
      analyzer: { ...workspace, ...memory },
    };
    const bus = brokers.length > 0 ? { MLZERO_BUS: "kafka", MLZERO_KAFKA_BROKERS: brokers.join(",") } : { MLZERO_BUS: "inprocess" };
    return {
      ...serviceBaseEnv(),
      MLZERO_GRPC_HOST: "127.0.0.1",
      MLZERO_GRPC_PORT: String(ports[name]),
      ...bus,
      MLZERO_LOG_LEVEL: options.logLevel ?? "info",
      ...own[name],
      ...options.env?.[name],
      ...extraEnv.get(name),
    };
  }

  function record(name: ServiceName, text: string): void {
    const next = (output.get(name) ?? "") + text;
    output.set(name, next.length > MAX_LOG_CHARS ? next.slice(-MAX_LOG_CHARS) : next);
    logFiles.get(name)?.write(text);
  }

  function current(name: ServiceName): Life | undefined {
    const life = lives.get(name);
    return life && life.child.exitCode === null && life.child.signalCode === null ? life : undefined;
  }

  function spawnService(name: ServiceName): Life {
    if (current(name)) throw new Error(`${name} is already running`);
    const count = (startCounts.get(name) ?? 0) + 1;
    startCounts.set(name, count);
    if (!logFiles.has(name)) logFiles.set(name, createWriteStream(path.join(logDir, `${name}.log`), { flags: "a" }));
    record(name, `--- ${new Date().toISOString()} start #${count} of ${name} on ${address(name)}\n`);
    const service = spawnServiceProcess(name, envOf(name), (text) => record(name, text));
    const closedPromise = service.closed.then((exit) => {
      const line = `${name} #${count} (pid ${service.child.pid}) exited with ${exit.signal ?? exit.code}`;
      exits.push(line);
      record(name, `--- ${line}\n`);
      return exit;
    });
    const life = { child: service.child, closed: closedPromise };
    lives.set(name, life);
    return life;
  }

  async function waitServing(name: ServiceName, life: Life): Promise<void> {
    const deadline = Date.now() + startTimeoutMs;
    let last = "no answer";
    while (Date.now() < deadline) {
      if (life.child.exitCode !== null || life.child.signalCode !== null) {
        throw new Error(`${name} exited (${life.child.exitCode ?? life.child.signalCode}) before serving\n${tail(name, 30)}`);
      }
      try {
        last = await checkHealth(address(name), "", 1_000);
        if (last === "SERVING") return;
      } catch (error) {
        last = (error as Error).message;
      }
      await sleep(100);
    }
    throw new Error(`${name} not SERVING within ${startTimeoutMs} ms (last: ${last})\n${tail(name, 30)}`);
  }

  function tail(name: ServiceName, lines = 40): string {
    return (output.get(name) ?? "").trimEnd().split("\n").slice(-lines).join("\n");
  }

  async function start(name: ServiceName): Promise<void> {
    if (closed) throw new Error("the cluster is closed");
    await waitServing(name, spawnService(name));
  }

  async function kill(name: ServiceName): Promise<void> {
    const life = current(name);
    if (!life) return;
    // The service's own process only, as kill -9 <pid> would: the programs
    // the executor started run in their own sessions and outlive it.
    life.child.kill("SIGKILL");
    await life.closed;
  }

  async function stop(name: ServiceName): Promise<ServiceExit | undefined> {
    const life = current(name);
    if (!life) return undefined;
    life.child.kill("SIGTERM");
    const timer = setTimeout(() => life.child.kill("SIGKILL"), STOP_GRACE_MS);
    const exit = await life.closed;
    clearTimeout(timer);
    return exit;
  }

  /** SIGKILL to every service's process group, synchronously: for close() and process exit. */
  function killServicesSync(): void {
    for (const life of lives.values()) killGroup(life.child.pid);
  }

  const handle = {
    killAllSync() {
      killServicesSync();
      killProgramsUnder(root);
    },
  };
  openClusters.add(handle);

  const cluster: Cluster = {
    root,
    workspaceRoot,
    gatewayStateDir,
    brokers,
    address,
    pid: (name) => current(name)?.child.pid,
    isRunning: (name) => current(name) !== undefined,
    starts: (name) => startCounts.get(name) ?? 0,
    start,
    async startAll() {
      if (!current("memory")) await start("memory");
      await Promise.all(SERVICE_NAMES.filter((name) => !current(name)).map(start));
    },
    kill,
    stop,
    async restart(name) {
      await kill(name);
      await start(name);
    },
    setEnv(name, vars) {
      extraEnv.set(name, { ...extraEnv.get(name), ...vars });
    },
    logTail: tail,
    report() {
      const parts = SERVICE_NAMES.map((name) => {
        // kafkajs's own warnings (a coordinator still loading, a rebalance) are routine noise here.
        const lines = (output.get(name) ?? "")
          .split("\n")
          .filter(
            (line) => /"level":(5|6)0\b|^---|^\S+: /.test(line) || (/"level":40\b/.test(line) && !line.includes('"component":"kafkajs"')),
          );
        return `=== ${name} (warnings, errors, starts and exits; all of it in ${path.join(logDir, `${name}.log`)})\n${lines.slice(-25).join("\n")}`;
      });
      return [...parts, `=== exits\n${exits.join("\n")}`].join("\n");
    },
    errorLines: (name) =>
      (output.get(name) ?? "")
        .split("\n")
        .filter((line) => /"level":(5|6)0\b/.test(line) && !(line.includes('"msg":"consumer crashed"') && line.includes('"restart":true'))),
    cpuSeconds: (name) => {
      const pid = current(name)?.child.pid;
      return pid === undefined ? 0 : cpuSecondsOf(pid);
    },
    async close() {
      if (closed) return;
      closed = true;
      killServicesSync();
      await Promise.all([...lives.values()].map((life) => withTimeout(life.closed, 10_000)));
      // Programs run in their own sessions: whatever still works in this cluster's folders.
      killProgramsUnder(root);
      openClusters.delete(handle);
      await Promise.all([...logFiles.values()].map((stream) => new Promise((resolve) => stream.end(resolve))));
      if (!process.env.MLZERO_KEEP_TEST_DIRS) await rm(root, { recursive: true, force: true });
    },
  };
  try {
    if (options.startAll ?? true) await cluster.startAll();
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}

/** A broker and a cluster on it, closed together. */
export interface KafkaCluster {
  broker: KafkaBroker;
  cluster: Cluster;
  /** Closes the cluster, then stops the broker; safe to call twice and after a failed start. */
  close(): Promise<void>;
}

/**
 * Starts a Kafka broker of its own (free ports, temporary data) and the six
 * services on it. A failed start leaves nothing running.
 */
export async function startKafkaCluster(options: Omit<ClusterOptions, "brokers"> = {}): Promise<KafkaCluster> {
  const broker = await startKafkaBroker();
  let cluster: Cluster;
  try {
    cluster = await startCluster({ ...options, brokers: broker.brokers });
  } catch (error) {
    await broker.stop();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    broker,
    cluster,
    close: () =>
      (closing ??= (async () => {
        await cluster.close();
        await broker.stop();
      })()),
  };
}

/**
 * Kills every process whose working directory lies under `root` (the
 * programs the executor launched in their own sessions), with its process
 * group. Synchronous, so it also runs from an exit handler.
 */
export function killProgramsUnder(root: string): number[] {
  const killed: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return killed;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    let cwd: string;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      continue; // gone, or not ours
    }
    if (cwd !== root && !cwd.startsWith(`${root}/`)) continue;
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, "SIGKILL");
      } catch {
        // Not a group leader, or already gone.
      }
    }
    killed.push(pid);
  }
  return killed;
}

/** CPU seconds (user + system, from /proc) a process has used; 0 when it is gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** USER_HZ: Linux reports process times in 1/100 s on every common architecture. */
const CLOCK_TICKS = 100;

/** Pids of live processes (not zombies) whose working directory lies under `root`. */
export function processesUnder(root: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if ((cwd === root || cwd.startsWith(`${root}/`)) && state !== "Z") found.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * A TCP port on 127.0.0.1 that nothing listens on now, below Linux's
 * ephemeral range (32768 and up): a service restarts on its port, and while
 * it is down an outgoing connection (a Kafka client reconnecting) could
 * otherwise take that port as its source port and keep it from binding.
 */
async function freePort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (!taken.has(port) && (await canListen(port))) return port;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}
