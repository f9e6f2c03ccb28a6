import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createInProcessBus, type EventBus } from "@mlzero/bus";
import { createKafkaBus } from "@mlzero/bus-kafka";
import { createLogger } from "@mlzero/logging";
import { startKafkaBroker, type KafkaBroker } from "../support/kafka-broker.js";
import { REPO_ROOT } from "../support/run-cli.js";
import { cliRunsTable, runCliCases, type CliRunResult } from "./cli-runs.js";
import { emptyTemplates, recordTemplates, type TemplateSet } from "./event-templates.js";
import { HOP_SERVICES, measureHops, type HopBuses, type HopResult, type HopSettings } from "./hop-latency.js";
import { loadTables, runLoad, type LoadResult, type LoadSettings } from "./load.js";
import { generateTinyTasks, runPipeline, type PipelineResult } from "./pipeline-throughput.js";
import { benchRetrieval, retrievalTables, type RetrievalBench } from "./retrieval.js";
import { fixed, markdownTable } from "./stats.js";

/**
 * `make bench`, a benchmark (no assertions on speed), in five parts:
 *
 * 1. `mlzero run` per end-to-end task: wall time and peak memory.
 * 2. The pipeline: tiny tasks submitted at once to the six modules in one
 *    process, on the in-process bus and on Kafka: tasks per minute, and the
 *    control plane's share of task wall time.
 * 3. Per-hop overhead (publish → handler start) through the pipeline's chain
 *    of consumer groups, steady and burst, on both buses.
 * 4. Retrieval: recall@1/5 and MRR of semantic memory on the labelled set,
 *    and query latency on the embedded store with 10,000 chunks.
 * 5. Load: tiny tasks from several tenants with bearer tokens and quotas,
 *    all submitted at once (one tenant bursting half), to the six services
 *    as separate processes on Kafka: all complete exactly once, per-tenant
 *    completion times, Submit and Get latency, each process's memory.
 *
 * One Kafka broker is started for parts 2 and 3 (free ports, temporary data)
 * and stopped at the end; part 5 starts a fresh one of its own. Tables go to
 * stdout, everything to out/bench/results.json; warnings of the buses and
 * services to out/bench/bench.log. A task of part 5 lost, run twice or not
 * succeeded makes the benchmark fail (exit 1) once the results are written.
 *
 * Options: --only cli,pipeline,hops,retrieval,load   --tasks N   --events N (steady and burst)   --rate EVENTS_PER_S
 *          --load-tasks N   --load-tenants N   --load-max-running N (per tenant)
 */
const PARTS = ["cli", "pipeline", "hops", "retrieval", "load"] as const;
type Part = (typeof PARTS)[number];

const { values } = parseArgs({
  options: {
    only: { type: "string", default: PARTS.join(",") },
    tasks: { type: "string", default: "10" },
    events: { type: "string", default: "2000" },
    rate: { type: "string", default: "200" },
    "load-tasks": { type: "string", default: "200" },
    "load-tenants": { type: "string", default: "5" },
    "load-max-running": { type: "string", default: "4" },
  },
});
const parts = new Set(values.only.split(",").map((part) => part.trim()) as Part[]);
for (const part of parts) if (!PARTS.includes(part)) throw new Error(`--only: unknown part ${part} (${PARTS.join(", ")})`);
const taskCount = Number(values.tasks);
const hopSettings: HopSettings = {
  warmupChains: 100,
  steadyEvents: Number(values.events),
  steadyEventsPerSecond: Number(values.rate),
  burstEvents: Number(values.events),
  phaseTimeoutMs: 120_000,
};
const TOOL_HINT = "lightgbm";
const loadSettings: LoadSettings = {
  tasks: Number(values["load-tasks"]),
  tenants: Number(values["load-tenants"]),
  maxRunningPerTenant: Number(values["load-max-running"]),
  // One program per core: more only thrash.
  executorConcurrency: os.availableParallelism(),
  toolHint: TOOL_HINT,
  timeoutMs: 20 * 60_000,
};

const outRoot = path.join(REPO_ROOT, "out", "bench");
await mkdir(outRoot, { recursive: true });
const root = await mkdtemp(path.join(os.tmpdir(), "mlzero-bench-"));
const logStream = createWriteStream(path.join(outRoot, "bench.log"));
const logger = createLogger({ service: "bench", level: "warn", destination: logStream });
const pythonBin = path.join(REPO_ROOT, ".venv", "bin", "python");
const benchStarted = performance.now();
const startedAt = new Date();
const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? "unknown",
  memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
  /** 1-minute load average when the benchmark started and ended: other work on the same cores. */
  loadAverage1m: { start: os.loadavg()[0] ?? 0, end: Number.NaN },
  platform: `${os.type()} ${os.release()} ${os.arch()}`,
  node: process.version,
};

const section = (title: string) => console.log(`\n## ${title}\n`);
let broker: KafkaBroker | undefined;
const kafkaBus = async (clientId: string): Promise<EventBus> => {
  if (!broker) {
    const brokerStarted = performance.now();
    broker = await startKafkaBroker();
    console.log(`(Kafka broker started on ${broker.brokers.join(",")} in ${((performance.now() - brokerStarted) / 1000).toFixed(1)} s)`);
  }
  return createKafkaBus({ brokers: broker.brokers, clientId, logger: logger.child({ clientId }) });
};

let cliRuns: CliRunResult[] | undefined;
const pipeline: PipelineResult[] = [];
const hops: HopResult[] = [];
let templates: TemplateSet = emptyTemplates();
let retrieval: RetrievalBench | undefined;
let load: LoadResult | undefined;
try {
  if (parts.has("cli")) {
    section("`mlzero run`, one process per task");
    cliRuns = await runCliCases(root, outRoot);
    console.log(`\n${cliRunsTable(cliRuns)}`);
  }

  if (parts.has("pipeline")) {
    section(`Pipeline: ${taskCount} tiny tasks submitted at once (tool hint ${TOOL_HINT}), six modules in one process`);
    const inputs = await generateTinyTasks(path.join(root, "tiny"), taskCount);
    const buses: { label: string; open: () => Promise<EventBus> }[] = [
      { label: "in-process", open: async () => createInProcessBus({ logger }) },
      { label: "Kafka", open: () => kafkaBus("bench-pipeline") },
    ];
    for (const { label, open } of buses) {
      const bus = await open();
      // The recorder (its own group, as any watcher) keeps real payloads for the hop benchmark; on both buses alike.
      let recorder: Awaited<ReturnType<typeof recordTemplates>> | undefined;
      try {
        const result = await runPipeline({
          label,
          bus,
          inputs,
          workspaceRoot: await mkdtemp(path.join(root, `ws-${label}-`)),
          pythonBin,
          logger,
          toolHint: TOOL_HINT,
          beforeSubmit: async () => {
            recorder = await recordTemplates(bus);
          },
        });
        pipeline.push(result);
        console.log(
          `${label}: ${result.succeeded}/${result.tasks} succeeded in ${result.makespanSeconds.toFixed(1)} s (start-up ${result.startupSeconds.toFixed(1)} s)`,
        );
        if (label === "in-process") templates = recorder?.result() ?? templates;
      } finally {
        await recorder?.close();
        await bus.close();
      }
    }
    console.log(`\n${pipelineTable(pipeline)}`);
  }

  if (parts.has("retrieval")) {
    section("Retrieval: semantic memory on the labelled set, and latency with 10,000 chunks");
    retrieval = await benchRetrieval();
    console.log(retrievalTables(retrieval));
  }

  if (parts.has("hops")) {
    section("Per-hop overhead: publish → handler start, through the pipeline's consumer groups");
    console.log(
      `payloads: ${templates.source}: ${Object.entries(templates.bytes)
        .map(([name, bytes]) => `${name} ${bytes} B`)
        .join(", ")}`,
    );
    const inProcess = createInProcessBus({ logger });
    const kinds: { label: string; open: () => Promise<HopBuses> }[] = [
      { label: "in-process", open: async () => ({ label: "in-process", busFor: () => inProcess, close: () => inProcess.close() }) },
      {
        label: "Kafka",
        open: async () => {
          // One bus (producer and consumers) per service, as separate processes have.
          const buses = new Map<string, EventBus>();
          for (const service of HOP_SERVICES) buses.set(service, await kafkaBus(`bench-hop-${service}`));
          return {
            label: "Kafka",
            busFor: (service) => buses.get(service)!,
            close: async () => void (await Promise.all([...buses.values()].map((bus) => bus.close()))),
          };
        },
      },
    ];
    for (const { label, open } of kinds) {
      const buses = await open();
      try {
        const result = await measureHops(buses, templates.templates, hopSettings);
        hops.push(result);
        const [steady, burst] = result.phases;
        console.log(
          `${label}: warm-up ${result.warmup.chains} chains in ${result.warmup.seconds.toFixed(1)} s; steady p50 ${fixed(steady?.latency.p50Ms, 2)} ms; burst p50 ${fixed(burst?.latency.p50Ms, 2)} ms`,
        );
      } finally {
        await buses.close();
      }
    }
    console.log(`\n${hopTable(hops)}`);
  }

  if (parts.has("load")) {
    // Its own broker, so no topic, consumer group or task state of parts 2 and 3 carries over; theirs is done.
    await broker?.stop();
    broker = undefined;
    section(
      `Load: ${loadSettings.tasks} tiny tasks from ${loadSettings.tenants} tenants at once, six service processes on Kafka, bearer tokens and quotas`,
    );
    load = await runLoad(root, loadSettings);
    console.log(`\n${loadTables(load)}`);
  }
} finally {
  await broker?.stop();
  await rm(root, { recursive: true, force: true });
}

const totalSeconds = (performance.now() - benchStarted) / 1000;
machine.loadAverage1m.end = os.loadavg()[0] ?? 0;
section("Summary");
if (cliRuns) console.log(`${cliRunsTable(cliRuns)}\n`);
if (pipeline.length > 0) console.log(`${pipelineTable(pipeline)}\n`);
if (hops.length > 0) console.log(`${hopTable(hops)}\n`);
if (retrieval) console.log(`${retrievalTables(retrieval)}\n`);
if (load) console.log(`${loadTables(load)}\n`);
console.log(
  `${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB; 1-minute load ${machine.loadAverage1m.start.toFixed(1)} at start, ` +
    `${machine.loadAverage1m.end.toFixed(1)} at end; ${totalSeconds.toFixed(0)} s in all. One run of each, on cores shared with ` +
    "whatever else runs: compare the buses within a run, and read p99 and max as rough.",
);
await writeFile(
  path.join(outRoot, "results.json"),
  JSON.stringify(
    {
      date: startedAt.toISOString(),
      machine,
      totalSeconds,
      settings: { tasks: taskCount, toolHint: TOOL_HINT, hops: hopSettings, load: loadSettings },
      cliRuns: cliRuns ?? [],
      pipeline,
      hops: { payloads: { source: templates.source, bytes: templates.bytes }, runs: hops },
      retrieval: retrieval ?? null,
      load: load ?? null,
    },
    null,
    2,
  ),
);
await new Promise<void>((resolve) => logStream.end(resolve));
console.log(`results: ${path.relative(REPO_ROOT, path.join(outRoot, "results.json"))}`);
if (load && load.problems.length > 0) {
  console.error(`\nThe load went wrong:\n${load.problems.join("\n")}\n\n${load.serviceReport}`);
  process.exitCode = 1;
}

function pipelineTable(results: readonly PipelineResult[]): string {
  const percent = (share: number) => `${fixed(share * 100, 1)} %`;
  return markdownTable(
    [
      "bus",
      "tasks",
      "succeeded",
      "makespan (s)",
      "tasks/min",
      "mean task wall (s)",
      "in program runs (s)",
      "control plane share",
      "median share",
      "perception / coding / executor / analysis / other (s)",
    ],
    results.map((r) => [
      r.bus,
      String(r.tasks),
      String(r.succeeded),
      fixed(r.makespanSeconds, 1),
      fixed(r.tasksPerMinute, 1),
      fixed(r.meanWallSeconds, 2),
      fixed(r.meanRunSeconds, 2),
      percent(r.controlShare),
      percent(r.medianControlShare),
      [
        r.controlBreakdown.perception,
        r.controlBreakdown.coding,
        r.controlBreakdown.executorOverhead,
        r.controlBreakdown.analysis,
        r.controlBreakdown.other,
      ]
        .map((seconds) => fixed(seconds, 2))
        .join(" / "),
    ]),
  );
}

function hopTable(results: readonly HopResult[]): string {
  const rows = (["steady", "burst"] as const).flatMap((phase) =>
    results.flatMap((result) => {
      const r = result.phases.find((candidate) => candidate.phase === phase);
      if (!r) return [];
      const load = phase === "steady" ? `steady, ${hopSettings.steadyEventsPerSecond} events/s offered` : "burst, all chains at once";
      return [
        [
          result.bus,
          load,
          String(r.publishedEvents),
          `${r.deliveries}/${r.expectedDeliveries}`,
          fixed(r.latency.p50Ms, 3),
          fixed(r.latency.p99Ms, 3),
          fixed(r.latency.maxMs, 3),
          fixed(r.publishedPerSecond, 0),
          fixed(r.deliveredPerSecond, 0),
        ],
      ];
    }),
  );
  return markdownTable(
    ["bus", "load", "events published", "deliveries", "p50 (ms)", "p99 (ms)", "max (ms)", "published events/s", "deliveries/s"],
    rows,
  );
}
