import { randomBytes } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { TaskService, TaskState, type Task } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { cpuSecondsOf, SERVICE_NAMES, startKafkaCluster, type Cluster, type KafkaCluster } from "../support/cluster-harness.js";
import { isFinished, launchesByIteration, submitTask, type TaskClient } from "../support/task-checks.js";
import { generateTinyTasks, type PipelineInput } from "./pipeline-throughput.js";
import { samplePeakMemory, treeResidentBytes } from "./process-tree-memory.js";
import { fixed, markdownTable, median, summarizeLatencies, type LatencySummary } from "./stats.js";

/**
 * The platform under load: the six services as separate processes on one
 * Kafka broker (the distributed tests' harness), with bearer tokens for
 * several tenants and per-tenant quotas. Every task is submitted at once,
 * one tenant bursting half of them (first, the worst case for a FIFO), the
 * others a share each; each tenant's client then polls its tasks with Get
 * until they end. It measures whether all complete exactly once, how fair
 * the completion times are across tenants, Submit and Get latency, and each
 * process's memory and CPU.
 */
export interface LoadSettings {
  tasks: number;
  tenants: number;
  /** Each tenant's tasks running at once (MLZERO_TENANT_MAX_RUNNING_TASKS); the rest wait in the gateway's queue. */
  maxRunningPerTenant: number;
  /** Programs the executor runs at once (MLZERO_EXECUTOR_CONCURRENCY). */
  executorConcurrency: number;
  toolHint: string;
  /** How long every task may take to end before the run counts as stuck. */
  timeoutMs: number;
}

export interface LoadTaskResult {
  tenant: string;
  taskId: string;
  state: string;
  /** Created → started: the time it waited in the gateway's queue. */
  queuedSeconds: number;
  /** From the start of the submissions to its end (the gateway's finished_at). */
  doneSeconds: number;
  iterations: number;
  /** Program launches over its iteration folders (launches.log lines). */
  launches: number;
  /** How long its programs ran (the executor's launch to exit), together. */
  runSeconds: number;
}

export interface TenantLoad {
  tenant: string;
  submitted: number;
  /** Final state → tasks. */
  states: Record<string, number>;
  iterations: number;
  launches: number;
  firstDoneSeconds: number;
  medianDoneSeconds: number;
  lastDoneSeconds: number;
  medianQueuedSeconds: number;
  /** Tasks of the bursting tenant that had ended when this tenant's last one did (undefined for that tenant). */
  burstDoneByLast: number | undefined;
}

/** Resident memory (the process and its children) and CPU of one process of the cluster. */
export interface ProcessUsage {
  process: string;
  rssBeforeBytes: number;
  rssPeakBytes: number;
  rssAfterBytes: number;
  /** CPU seconds (user + system) over the load. */
  cpuSeconds: number;
  /** Lines it logged at level error or fatal (kafkajs's restarted consumer crashes aside). */
  errorLines: number;
}

export interface LoadResult {
  settings: LoadSettings;
  /** Starting the broker and the six services. */
  startupSeconds: number;
  /** The first Submit to the last Submit's answer. */
  submitSeconds: number;
  /** The first Submit to the last task's end. */
  makespanSeconds: number;
  tasksPerMinute: number;
  submit: LatencySummary;
  get: LatencySummary & { errors: number; firstError: string };
  tenants: TenantLoad[];
  processes: ProcessUsage[];
  perTask: LoadTaskResult[];
  /** What went wrong: a task lost, duplicated or not SUCCEEDED, a service restarted. Empty when all is well. */
  problems: string[];
  /** The services' warnings, errors and exits, kept when there are problems. */
  serviceReport?: string;
}

/**
 * Each tenant's poller issues a Get this often, round its unfinished tasks:
 * steady load, not a busy loop that takes the cores from the tasks.
 */
const GET_EVERY_MS = 100;
const PROGRESS_EVERY_MS = 30_000;

/** Tasks per tenant: the first bursts half of them, the others share the rest as evenly as it goes. */
function tenantShares(tasks: number, tenants: number): number[] {
  if (!Number.isInteger(tasks) || !Number.isInteger(tenants) || tenants < 2 || tasks < 2 * (tenants - 1)) {
    throw new Error(`--load-tasks ${tasks} --load-tenants ${tenants}: need at least 2 tenants and a task for each`);
  }
  const burst = Math.ceil(tasks / 2);
  const others = tenants - 1;
  const rest = tasks - burst;
  return [burst, ...Array.from({ length: others }, (_, index) => Math.floor(rest / others) + (index < rest % others ? 1 : 0))];
}

interface Tenant {
  name: string;
  token: string;
  inputs: PipelineInput[];
  client?: TaskClient;
  ids: string[];
}

/** Runs the load on a fresh broker and cluster under `root` (data, token file); closes them whatever happens. */
export async function runLoad(root: string, settings: LoadSettings): Promise<LoadResult> {
  const shares = tenantShares(settings.tasks, settings.tenants);
  const dataRoot = path.join(root, "load-data");
  const inputs = await generateTinyTasks(dataRoot, settings.tasks);
  let offset = 0;
  const tenants: Tenant[] = shares.map((share, index) => {
    const tenant = {
      name: index === 0 ? "burst" : `tenant-${index}`,
      token: randomBytes(24).toString("hex"),
      inputs: inputs.slice(offset, offset + share),
      ids: [],
    };
    offset += share;
    return tenant;
  });
  const tokensFile = path.join(root, "load-tokens");
  await writeFile(tokensFile, tenants.map((tenant) => `${tenant.token} ${tenant.name}\n`).join(""));

  const startupStarted = performance.now();
  const kafka = await startKafkaCluster({
    logLevel: "warn",
    env: {
      gateway: {
        MLZERO_GATEWAY_TOKENS_FILE: tokensFile,
        MLZERO_GATEWAY_ALLOWED_ROOTS: dataRoot,
        MLZERO_TENANT_MAX_RUNNING_TASKS: String(settings.maxRunningPerTenant),
        // Room for the whole burst: every task is accepted, the quota holds back its start.
        MLZERO_TENANT_MAX_QUEUED_TASKS: String(shares[0]),
      },
      executor: { MLZERO_EXECUTOR_CONCURRENCY: String(settings.executorConcurrency) },
    },
  });
  const startupSeconds = (performance.now() - startupStarted) / 1000;
  try {
    const address = kafka.cluster.address("gateway");
    for (const tenant of tenants)
      tenant.client = createClient(TaskService, address, { metadata: { authorization: `Bearer ${tenant.token}` } });
    return await measure(kafka, tenants, settings, startupSeconds);
  } finally {
    for (const tenant of tenants) tenant.client?.close();
    await kafka.close();
  }
}

async function measure(kafka: KafkaCluster, tenants: Tenant[], settings: LoadSettings, startupSeconds: number): Promise<LoadResult> {
  const { cluster } = kafka;
  const brokerPid = Number(await readFile(path.join(kafka.broker.dataDir, "kafka.pid"), "utf8"));
  const pids = [...SERVICE_NAMES.map((name) => [name, cluster.pid(name)!] as const), ["Kafka broker", brokerPid] as const];
  const rssBefore = await Promise.all(pids.map(([, pid]) => treeResidentBytes(pid)));
  const cpuBefore = pids.map(([, pid]) => cpuSecondsOf(pid));
  const peaks = pids.map(([, pid]) => samplePeakMemory(pid, 1_000));
  let load: Driven;
  let rssPeak: number[];
  try {
    load = await drive(tenants, settings, cluster);
  } finally {
    rssPeak = await Promise.all(peaks.map((peak) => peak.stop()));
  }
  const rssAfter = await Promise.all(pids.map(([, pid]) => treeResidentBytes(pid)));
  const cpuAfter = pids.map(([, pid]) => cpuSecondsOf(pid));
  const { started, ids, ended } = load;

  const problems: string[] = [];
  if (new Set(ids).size !== ids.length) problems.push(`Submit returned ${new Set(ids).size} distinct task ids for ${ids.length} tasks`);
  const perTask: LoadTaskResult[] = [];
  for (const tenant of tenants) {
    // The gateway's own record: List shows exactly the tasks submitted, and the workspace holds no other.
    problems.push(...differences(`${tenant.name}: List`, tenant.ids, await listedIds(tenant.client!)));
    problems.push(...differences(`${tenant.name}: workspace`, tenant.ids, await readdir(path.join(cluster.workspaceRoot, tenant.name))));
    for (const taskId of tenant.ids) {
      const task = ended.get(taskId)!;
      if (task.state !== TaskState.SUCCEEDED)
        problems.push(`${tenant.name}: task ${taskId} ended ${TaskState[task.state]}: ${task.message}`);
      // Each iteration the gateway reports ran its program exactly once, and no other iteration ran.
      const launches = await launchesByIteration(cluster.workspaceRoot, taskId, tenant.name);
      const reported = task.iterations.map((item) => item.iteration);
      const counts = [...launches].map(([iteration, count]) => `iter-${iteration}=${count}`).join(", ");
      if (reported.length !== launches.size || reported.some((iteration) => launches.get(iteration) !== 1)) {
        problems.push(`${tenant.name}: task ${taskId} reports iterations [${reported.join(", ")}], launched ${counts || "none"}`);
      }
      perTask.push({
        tenant: tenant.name,
        taskId,
        state: TaskState[task.state],
        queuedSeconds: task.startedAt ? (timestampMs(task.startedAt) - timestampMs(task.createdAt!)) / 1000 : Number.NaN,
        doneSeconds: (timestampMs(task.finishedAt!) - started) / 1000,
        iterations: reported.length,
        launches: [...launches.values()].reduce((sum, count) => sum + count, 0),
        runSeconds: task.iterations.reduce((sum, item) => sum + (item.duration ? durationMs(item.duration) : 0), 0) / 1000,
      });
    }
  }
  for (const name of SERVICE_NAMES) {
    if (cluster.starts(name) !== 1 || !cluster.isRunning(name)) {
      problems.push(`${name}: started ${cluster.starts(name)} times, running: ${cluster.isRunning(name)}`);
    }
  }

  const makespanSeconds = Math.max(...perTask.map((task) => task.doneSeconds));
  const burstDone = perTask.filter((task) => task.tenant === tenants[0]!.name).map((task) => task.doneSeconds);
  return {
    settings,
    startupSeconds,
    submitSeconds: load.submitSeconds,
    makespanSeconds,
    tasksPerMinute: (ids.length / makespanSeconds) * 60,
    submit: summarizeLatencies(load.submitLatencies),
    get: { ...summarizeLatencies(load.getLatencies), errors: load.getErrors.length, firstError: load.getErrors[0] ?? "" },
    tenants: tenants.map((tenant, index) => tenantLoad(tenant.name, perTask, index === 0 ? undefined : burstDone)),
    processes: pids.map(([name], index) => ({
      process: name,
      rssBeforeBytes: rssBefore[index]!,
      rssPeakBytes: Math.max(rssPeak[index]!, rssBefore[index]!, rssAfter[index]!),
      rssAfterBytes: rssAfter[index]!,
      cpuSeconds: cpuAfter[index]! - cpuBefore[index]!,
      errorLines: name === "Kafka broker" ? 0 : cluster.errorLines(name).length,
    })),
    perTask,
    problems,
    ...(problems.length > 0 ? { serviceReport: cluster.report() } : {}),
  };
}

/** What submitting and polling saw. */
interface Driven {
  /** Epoch ms of the first Submit. */
  started: number;
  submitSeconds: number;
  /** Every task id Submit returned, in submission order. */
  ids: string[];
  /** Each task as Get showed it once it had ended. */
  ended: Map<string, Task>;
  submitLatencies: number[];
  getLatencies: number[];
  getErrors: string[];
}

/**
 * Submits every tenant's tasks at once, the burst's first, then polls each
 * tenant's with its own client until all end; throws, with the services'
 * report, when some have not ended by the deadline (lost or stuck).
 */
async function drive(tenants: Tenant[], settings: LoadSettings, cluster: Cluster): Promise<Driven> {
  const started = Date.now();
  const submitLatencies: number[] = [];
  const submissions = tenants.flatMap((tenant) =>
    tenant.inputs.map(async (input) => {
      const callStarted = performance.now();
      const taskId = await submitTask(tenant.client!, input.inputDir, { tool: settings.toolHint, maxIterations: 1 }).catch(
        (error: Error) => {
          throw new Error(`Submit of ${input.name} for tenant ${tenant.name} failed: ${error.message}`);
        },
      );
      submitLatencies.push(performance.now() - callStarted);
      return taskId;
    }),
  );
  const ids = await Promise.all(submissions);
  const submitSeconds = (Date.now() - started) / 1000;
  let at = 0;
  for (const tenant of tenants) {
    tenant.ids = ids.slice(at, at + tenant.inputs.length);
    at += tenant.inputs.length;
  }

  // Each tenant's client polls its own tasks until they end, as a dashboard or CLI would.
  const deadline = started + settings.timeoutMs;
  const getLatencies: number[] = [];
  const getErrors: string[] = [];
  const ended = new Map<string, Task>();
  const last = new Map<string, Task>();
  const progress = setInterval(
    () => console.log(`  ${((Date.now() - started) / 1000).toFixed(0)} s: ${ended.size}/${ids.length} tasks ended`),
    PROGRESS_EVERY_MS,
  );
  try {
    await Promise.all(
      tenants.map(async (tenant) => {
        while (tenant.ids.some((id) => !ended.has(id)) && Date.now() < deadline) {
          for (const taskId of tenant.ids.filter((id) => !ended.has(id))) {
            const callStarted = performance.now();
            try {
              const { task } = await tenant.client!.get({ taskId }, { timeoutMs: 10_000 });
              getLatencies.push(performance.now() - callStarted);
              last.set(taskId, task!);
              if (isFinished(task)) ended.set(taskId, task!);
            } catch (error) {
              getErrors.push(`${taskId}: ${(error as Error).message}`);
            }
            await sleep(Math.max(0, GET_EVERY_MS - (performance.now() - callStarted)));
          }
        }
      }),
    );
  } finally {
    clearInterval(progress);
  }
  const stuck = ids.filter((id) => !ended.has(id));
  if (stuck.length > 0) {
    const lines = stuck.slice(0, 20).map((id) => `${id}: ${TaskState[last.get(id)?.state ?? 0]} ${last.get(id)?.message ?? ""}`);
    throw new Error(
      `${stuck.length} of ${ids.length} tasks did not end within ${settings.timeoutMs / 1000} s:\n${lines.join("\n")}\n${cluster.report()}`,
    );
  }
  return { started, submitSeconds, ids, ended, submitLatencies, getLatencies, getErrors };
}

/** The ids of every task List shows the client's tenant, page by page. */
async function listedIds(client: TaskClient): Promise<string[]> {
  const ids: string[] = [];
  let pageToken = "";
  do {
    const page = await client.list({ pageSize: 500, pageToken });
    ids.push(...page.tasks.map((task) => task.taskId));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return ids;
}

/** What `actual` lacks of `expected` and holds besides, as problem lines. */
function differences(what: string, expected: readonly string[], actual: readonly string[]): string[] {
  const want = new Set(expected);
  const have = new Set(actual);
  const missing = expected.filter((id) => !have.has(id));
  const extra = actual.filter((id) => !want.has(id));
  return [
    ...(missing.length > 0 ? [`${what} lacks ${missing.length} submitted tasks: ${missing.slice(0, 5).join(", ")}`] : []),
    ...(extra.length > 0 || actual.length !== have.size
      ? [`${what} holds ${actual.length} entries for ${expected.length} tasks submitted`]
      : []),
  ];
}

function tenantLoad(tenant: string, perTask: readonly LoadTaskResult[], burstDone: readonly number[] | undefined): TenantLoad {
  const own = perTask.filter((task) => task.tenant === tenant);
  const done = own.map((task) => task.doneSeconds).sort((a, b) => a - b);
  const lastDone = done.at(-1)!;
  return {
    tenant,
    submitted: own.length,
    states: Object.fromEntries(Object.entries(Object.groupBy(own, (task) => task.state)).map(([state, tasks]) => [state, tasks!.length])),
    iterations: own.reduce((sum, task) => sum + task.iterations, 0),
    launches: own.reduce((sum, task) => sum + task.launches, 0),
    firstDoneSeconds: done[0]!,
    medianDoneSeconds: median(done),
    lastDoneSeconds: lastDone,
    medianQueuedSeconds: median(own.map((task) => task.queuedSeconds)),
    burstDoneByLast: burstDone?.filter((seconds) => seconds <= lastDone).length,
  };
}

/** The load's tables: tenants and fairness, latencies, and the processes' memory and CPU. */
export function loadTables(result: LoadResult): string {
  const { settings } = result;
  const mib = (bytes: number) => fixed(bytes / 2 ** 20, 0);
  const burst = result.tenants[0]!;
  const tenants = markdownTable(
    [
      "tenant",
      "submitted",
      "final states",
      "iterations / launches",
      "median queued (s)",
      "first done (s)",
      "median done (s)",
      "last done (s)",
      `${burst.tenant}'s tasks done by then`,
    ],
    result.tenants.map((tenant) => [
      tenant.tenant,
      String(tenant.submitted),
      Object.entries(tenant.states)
        .map(([state, count]) => `${state} ${count}`)
        .join(", "),
      `${tenant.iterations} / ${tenant.launches}`,
      fixed(tenant.medianQueuedSeconds, 1),
      fixed(tenant.firstDoneSeconds, 1),
      fixed(tenant.medianDoneSeconds, 1),
      fixed(tenant.lastDoneSeconds, 1),
      tenant.burstDoneByLast === undefined ? "–" : `${tenant.burstDoneByLast} of ${burst.submitted}`,
    ]),
  );
  const latency = markdownTable(
    ["call", "calls", "errors", "p50 (ms)", "p99 (ms)", "max (ms)"],
    [
      [
        "Submit (all at once)",
        String(result.submit.count),
        "0",
        fixed(result.submit.p50Ms, 1),
        fixed(result.submit.p99Ms, 1),
        fixed(result.submit.maxMs, 1),
      ],
      [
        "Get (pollers, throughout)",
        String(result.get.count),
        String(result.get.errors),
        fixed(result.get.p50Ms, 1),
        fixed(result.get.p99Ms, 1),
        fixed(result.get.maxMs, 1),
      ],
    ],
  );
  const processes = markdownTable(
    ["process (RSS: with its children)", "RSS before (MiB)", "peak (MiB)", "after (MiB)", "CPU over the load (s)", "error lines"],
    result.processes.map((usage) => [
      usage.process,
      mib(usage.rssBeforeBytes),
      mib(usage.rssPeakBytes),
      mib(usage.rssAfterBytes),
      fixed(usage.cpuSeconds, 1),
      String(usage.errorLines),
    ]),
  );
  const summary =
    `${settings.tasks} tasks from ${settings.tenants} tenants (${result.tenants.map((tenant) => tenant.submitted).join(" + ")}), ` +
    `at most ${settings.maxRunningPerTenant} running per tenant, executor concurrency ${settings.executorConcurrency}, tool hint ${settings.toolHint}, one iteration each: ` +
    `cluster up in ${result.startupSeconds.toFixed(1)} s, all submitted in ${result.submitSeconds.toFixed(1)} s, all ended after ${result.makespanSeconds.toFixed(1)} s ` +
    `(${result.tasksPerMinute.toFixed(0)} tasks/min; a program ran ${fixed(median(result.perTask.map((task) => task.runSeconds)), 1)} s, median). ${result.problems.length === 0 ? "All SUCCEEDED, none lost, none run twice." : `${result.problems.length} problems.`}`;
  const getError = result.get.firstError ? `\nfirst Get error: ${result.get.firstError}` : "";
  return `${tenants}\n\n${latency}${getError}\n\n${processes}\n\n${summary}`;
}
