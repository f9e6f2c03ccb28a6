import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

/** Options for {@link startKafkaBroker}. */
export interface KafkaBrokerOptions {
  /** Config, data, pid and log files; a fresh temporary folder (removed by stop) when left out. */
  dataDir?: string;
  /** Client port on 127.0.0.1; a free one when left out. */
  port?: number;
}

/** A running single-node broker, for tests. */
export interface KafkaBroker {
  /** Bootstrap addresses for clients. */
  brokers: string[];
  dataDir: string;
  /** Stops it cleanly (SIGTERM), removing a data folder it created. Safe to call twice. */
  stop(): Promise<void>;
  /** Kills it (SIGKILL), as a crash would; `restart` brings it back. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data, after `kill` or a clean stop. */
  restart(): Promise<void>;
}

/** The repository root: this file sits in libs/bus-kafka/src (tests) or dist (build). */
const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const SCRIPT = path.join(REPO_ROOT, "scripts", "kafka.sh");

/**
 * Starts Apache Kafka through `scripts/kafka.sh` (the jars resolved and
 * cached by Maven on first use, one KRaft node on 127.0.0.1, bounded heap),
 * on free ports unless told otherwise. Resolves once the port accepts
 * connections. A broker still running when this process exits is killed, so
 * a failed test run leaves none behind.
 */
export async function startKafkaBroker(options: KafkaBrokerOptions = {}): Promise<KafkaBroker> {
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), "mlzero-kafka-")));
  const port = options.port ?? (await freePort());
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const env = { ...process.env, KAFKA_RUN_DIR: dataDir, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controllerPort) };
  let pid: number | undefined;
  let stopped = false;

  const killOnExit = () => {
    if (pid !== undefined && isAlive(pid)) process.kill(pid, "SIGKILL");
  };
  process.on("exit", killOnExit);

  async function start(): Promise<void> {
    await runScript("start", env);
    pid = Number(await readFile(path.join(dataDir, "kafka.pid"), "utf8"));
  }

  try {
    await start();
  } catch (error) {
    process.off("exit", killOnExit);
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    brokers: [`127.0.0.1:${port}`],
    dataDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await runScript("stop", env);
      process.off("exit", killOnExit);
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    },
    async kill() {
      if (pid === undefined || !isAlive(pid)) return;
      process.kill(pid, "SIGKILL");
      // The JVM's main thread can turn zombie while other threads still hold
      // its sockets: gone means the port refuses connections too.
      while (isAlive(pid) || (await accepts(port))) await sleep(20);
    },
    restart: start,
  };
}

/** Runs `scripts/kafka.sh <command>`; a failure carries the script's own message. */
function runScript(command: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("bash", [SCRIPT, command], { env, timeout: 180_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`scripts/kafka.sh ${command} failed: ${stderr.trim() || error.message}`, { cause: error }));
      else resolve();
    });
  });
}

/** True while the process runs: a zombie (killed, not yet reaped by its new parent) counts as gone. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // Field 3 of /proc/<pid>/stat is the state; the name before it is in parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Whether something on 127.0.0.1 accepts connections on `port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * A TCP port on 127.0.0.1 that nothing listens on right now, drawn below
 * Linux's ephemeral range (32768 and up). While the broker is down, clients
 * keep reconnecting from ephemeral source ports; a listening port inside that
 * range can be taken by such a socket connecting to itself, and the broker
 * could not come back on it.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}
