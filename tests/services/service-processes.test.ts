import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  AnalyzerService,
  CoderService,
  ExecutorService,
  MemoryService,
  PerceptionService,
  TaskService,
  TaskState,
  Verdict,
  type PerceptualContext,
} from "@mlzero/proto";
import { checkHealth, createClient } from "@mlzero/rpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSpeciesTask, type GeneratedTask } from "../support/generate-tasks.js";
import { NODE_BIN, REPO_ROOT } from "../support/run-cli.js";

// Each service's main.ts as its own process, the way the cluster runs it:
// its own port, its own in-process bus, and perception and coder reaching
// memory over real gRPC across processes.

type ServiceName = "gateway" | "perception" | "memory" | "coder" | "executor" | "analyzer";

const PYTHON = path.join(REPO_ROOT, ".venv", "bin", "python");
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

/** One spawned service and what it printed. */
interface ServiceProcess {
  name: ServiceName;
  child: ChildProcess;
  address: string;
  /** stdout and stderr so far, for failure messages. */
  output(): string;
  stderr(): string;
  /** Resolves once the process has exited and its pipes are closed. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Every process this file started, so afterAll can kill whatever a failing test left. */
const started: ServiceProcess[] = [];
/** Temporary folders to remove once every process is gone. */
const tempDirs: string[] = [];

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** The parent's environment without any MLZERO_* variable, so nothing leaks into a child's config. */
function baseEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("MLZERO_")));
}

/** A port nothing listens on right now: bind port 0, read it, release it. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Same as {@link isAlive} for the process group led by `pid` (any member left). */
function groupAlive(pid: number): boolean {
  return isAlive(-pid);
}

function spawnService(name: ServiceName, port: number, env: Record<string, string>): ServiceProcess {
  // detached: each service leads its own process group, so afterAll can kill
  // it with anything it spawned, and a test can check that nothing is left.
  const child = spawn(NODE_BIN, [path.join(REPO_ROOT, "services", name, "dist", "main.js")], {
    cwd: REPO_ROOT,
    env: { ...baseEnv(), MLZERO_GRPC_HOST: "127.0.0.1", MLZERO_GRPC_PORT: String(port), MLZERO_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal })),
  );
  const service: ServiceProcess = {
    name,
    child,
    address: `127.0.0.1:${port}`,
    output: () => `--- ${name} stdout\n${stdout}--- ${name} stderr\n${stderr}`,
    stderr: () => stderr,
    closed,
  };
  started.push(service);
  return service;
}

/** Polls grpc.health.v1 until the server answers SERVING; fails early if the process exits. */
async function waitServing(service: ServiceProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (service.child.exitCode !== null || service.child.signalCode !== null) {
      throw new Error(`${service.name} exited (${service.child.exitCode ?? service.child.signalCode}) before serving\n${service.output()}`);
    }
    try {
      last = await checkHealth(service.address, "", 1_000);
      if (last === "SERVING") return;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${service.name} not SERVING within ${START_TIMEOUT_MS} ms (last: ${last})\n${service.output()}`);
}

/** pino lines at level error (50) or fatal (60). */
function errorLogLines(output: string): string[] {
  return output.split("\n").filter((line) => /"level":(5|6)0\b/.test(line));
}

/** Resolves with the exit, or rejects after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts one service with a config it should reject, and waits for it to exit. */
async function runToExit(name: ServiceName, env: Record<string, string>) {
  const service = spawnService(name, await freePort(), env);
  const { code } = await within(service.closed, 10_000, `${name} with a bad config`);
  return { code, stderr: service.stderr(), output: service.output() };
}

afterAll(async () => {
  for (const service of started) {
    if (service.child.pid === undefined) continue;
    const pid = service.child.pid;
    if (isAlive(pid) || groupAlive(pid)) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // Already gone between the check and the kill.
      }
    }
    await within(service.closed, 5_000, `${service.name} to die`).catch(() => undefined);
  }
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("each service as its own process", () => {
  let workspaceRoot: string;
  let data: GeneratedTask;
  const services = {} as Record<ServiceName, ServiceProcess>;

  beforeAll(async () => {
    workspaceRoot = await tempDir("mlzero-procs-ws-");
    data = await generateSpeciesTask(await tempDir("mlzero-procs-data-"), 5, 600);

    services.memory = spawnService("memory", await freePort(), {});
    await waitServing(services.memory);
    const workspace = { MLZERO_WORKSPACE_ROOT: workspaceRoot };
    const memory = { MLZERO_MEMORY_ADDRESS: services.memory.address };
    services.perception = spawnService("perception", await freePort(), { ...workspace, ...memory });
    services.coder = spawnService("coder", await freePort(), memory);
    services.executor = spawnService("executor", await freePort(), { ...workspace, MLZERO_PYTHON: PYTHON });
    services.analyzer = spawnService("analyzer", await freePort(), workspace);
    services.gateway = spawnService("gateway", await freePort(), workspace);
    await Promise.all(Object.values(services).map(waitServing));
  });

  it("serves grpc.health.v1 for each service name", async () => {
    const names: Record<ServiceName, string> = {
      gateway: "mlzero.v1.TaskService",
      perception: "mlzero.v1.PerceptionService",
      memory: "mlzero.v1.MemoryService",
      coder: "mlzero.v1.CoderService",
      executor: "mlzero.v1.ExecutorService",
      analyzer: "mlzero.v1.AnalyzerService",
    };
    for (const [name, service] of Object.entries(names) as [ServiceName, string][]) {
      expect(await checkHealth(services[name].address, service), name).toBe("SERVING");
    }
    // Each listens on its own port.
    expect(new Set(Object.values(services).map((service) => service.address)).size).toBe(6);
  });

  it("runs one iteration by hand, each call crossing a process boundary", async () => {
    const memory = createClient(MemoryService, services.memory.address);
    const perception = createClient(PerceptionService, services.perception.address);
    const coder = createClient(CoderService, services.coder.address);
    const executor = createClient(ExecutorService, services.executor.address);
    const analyzer = createClient(AnalyzerService, services.analyzer.address);
    try {
      const { tools } = await memory.listTools({});
      expect(tools.map((tool) => tool.name)).toContain("lightgbm");

      // Perception ranks tools through memory's gRPC API in the memory process.
      const { context } = await perception.perceive({ inputDir: data.inputDir });
      expect(context?.labelColumn).toBe(data.labelColumn);
      expect(context?.tools.map((tool) => tool.name)).toContain("lightgbm");

      const taskId = "procs-by-hand";
      await mkdir(path.join(workspaceRoot, "default", taskId), { recursive: true });
      await cp(data.inputDir, path.join(workspaceRoot, "default", taskId, "input"), { recursive: true });

      // The coder retrieves its template from the memory process.
      const { program } = await coder.generate({
        taskId,
        tenant: "default",
        iteration: 1,
        context: context as PerceptualContext,
        // reduce_level 2 asks the template for its linear model: this test is
        // about process boundaries, and a linear fit stays a second or two even
        // when other test files keep the CPUs busy (gradient boosting's OpenMP
        // threads slow down tenfold when oversubscribed).
        fix: { tool: "sklearn", reduceLevel: 2, plan: "a light model for the process test" },
        timeLimitSeconds: 90,
      });
      expect(program?.tool).toBe("sklearn");

      const { result } = await executor.execute(
        { taskId, tenant: "default", iteration: 1, program, timeLimit: durationFromMs(90_000), memoryLimitBytes: 4n * 1024n ** 3n },
        { timeoutMs: 100_000 },
      );
      expect(result?.exitCode, result?.stderrTail).toBe(0);

      const { analysis } = await analyzer.analyze({
        taskId,
        tenant: "default",
        iteration: 1,
        context,
        program,
        result,
        budget: { maxIterations: 3 },
      });
      expect(analysis?.verdict, analysis?.checks.join("\n")).toBe(Verdict.SUCCESS);
    } finally {
      for (const client of [memory, perception, coder, executor, analyzer]) client.close();
    }
    // About 2 s on an idle machine; the margin is for a CI box busy with other runs.
  }, 120_000);

  it("serves TaskService standalone: submit, get, list and cancel", async () => {
    // With the in-process bus nothing downstream hears TaskSubmitted, so the
    // task stays queued until cancelled; the gateway's own projection ends it.
    const tasks = createClient(TaskService, services.gateway.address);
    try {
      const { task } = await tasks.submit({ spec: { inputUri: data.inputDir } });
      const taskId = task!.taskId;
      expect(taskId).toMatch(/\S/);
      expect((await tasks.get({ taskId })).task?.taskId).toBe(taskId);
      expect((await tasks.list({})).tasks.map((listed) => listed.taskId)).toContain(taskId);

      await tasks.cancel({ taskId, reason: "test" });
      const states: TaskState[] = [];
      for await (const update of tasks.watch({ taskId }, { timeoutMs: 10_000 })) states.push(update.task!.state);
      expect(states.at(-1)).toBe(TaskState.CANCELLED);
      expect((await tasks.get({ taskId })).task?.state).toBe(TaskState.CANCELLED);
    } finally {
      tasks.close();
    }
  });

  it("drains and exits 0 on SIGTERM, leaving no process behind", async () => {
    // Callers first, memory last, as a rolling shutdown would.
    for (const name of ["gateway", "analyzer", "executor", "coder", "perception", "memory"] as const) {
      const service = services[name];
      const pid = service.child.pid!;
      expect(service.child.kill("SIGTERM"), name).toBe(true);
      const exit = await within(service.closed, STOP_TIMEOUT_MS, `${name} to stop on SIGTERM`);
      expect(exit, service.output()).toEqual({ code: 0, signal: null });
      expect(errorLogLines(service.output()), `${name} logged errors`).toEqual([]);
      expect(isAlive(pid), `${name} still running`).toBe(false);
      expect(groupAlive(pid), `a process of ${name}'s group still running`).toBe(false);
    }
  });
});

describe("a service with a bad config", () => {
  const expectOneLineNaming = (stderr: string, variable: string) => {
    const lines = stderr.trim().split("\n");
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toContain(variable);
    expect(stderr).not.toMatch(/^\s+at /m);
  };

  it("stops the gateway with exit code 2 when MLZERO_WORKSPACE_ROOT is missing", async () => {
    const { code, stderr, output } = await runToExit("gateway", {});
    expect(code, output).toBe(2);
    expectOneLineNaming(stderr, "MLZERO_WORKSPACE_ROOT");
  });

  it("stops the coder with exit code 2 when MLZERO_MEMORY_ADDRESS is not host:port", async () => {
    const { code, stderr, output } = await runToExit("coder", { MLZERO_MEMORY_ADDRESS: "not-an-address" });
    expect(code, output).toBe(2);
    expectOneLineNaming(stderr, "MLZERO_MEMORY_ADDRESS");
  });

  it("stops a service on the Kafka bus with exit code 2 when MLZERO_KAFKA_BROKERS is missing or malformed", async () => {
    for (const brokers of [{}, { MLZERO_KAFKA_BROKERS: "127.0.0.1" }] as Record<string, string>[]) {
      const { code, stderr, output } = await runToExit("analyzer", { MLZERO_BUS: "kafka", ...brokers });
      expect(code, output).toBe(2);
      expectOneLineNaming(stderr, "MLZERO_KAFKA_BROKERS");
    }
  });

  it("stops any service with exit code 2 on a malformed MLZERO_GRPC_PORT", async () => {
    const { code, stderr, output } = await runToExit("memory", { MLZERO_GRPC_PORT: "http" });
    expect(code, output).toBe(2);
    expectOneLineNaming(stderr, "MLZERO_GRPC_PORT");
  });
});
