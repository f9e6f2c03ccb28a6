import { randomBytes, randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { EventBus, EventHandlers, EventMessage, EventName, Subscription } from "@mlzero/bus";
import { EventEnvelopeSchema, TraceContextSchema, type EventEnvelope } from "@mlzero/proto";
import { CHAIN_EVENTS, type ChainEvent, type EventTemplates } from "./event-templates.js";
import { summarizeLatencies, type LatencySummary } from "./stats.js";

/**
 * Per-hop overhead of a bus: the time from `publish` being called to the
 * handler of a consumer group starting, with the chain of consumer groups the
 * pipeline has. Each chain is one task's iteration: the gateway publishes
 * TaskSubmitted, perception answers with TaskPerceived, the coder with
 * CodeGenerated, the executor with ExecutionFinished, the analyzer with
 * IterationAnalyzed; the gateway's group sees every event, the coder's and
 * memory's see IterationAnalyzed. Every handler publishes its next event
 * before it returns, as the services do, but does no other work.
 *
 * The publish time is a monotonic clock reading (`process.hrtime`, one
 * process) carried in the envelope's W3C `tracestate` (`mlzbench=PHASE.NS`),
 * taken right before `publish`, so encoding, the transport, decoding and the
 * wait for the partition's earlier events all count.
 */
interface Stage {
  service: string;
  handles: readonly ChainEvent[];
  /** The event its handler publishes in answer to one it handles. */
  answers: Partial<Record<ChainEvent, ChainEvent>>;
}

const STAGES: readonly Stage[] = [
  { service: "gateway", handles: CHAIN_EVENTS, answers: {} },
  { service: "perception", handles: ["TaskSubmitted"], answers: { TaskSubmitted: "TaskPerceived" } },
  { service: "coder", handles: ["TaskPerceived", "IterationAnalyzed"], answers: { TaskPerceived: "CodeGenerated" } },
  { service: "executor", handles: ["CodeGenerated"], answers: { CodeGenerated: "ExecutionFinished" } },
  { service: "analyzer", handles: ["ExecutionFinished"], answers: { ExecutionFinished: "IterationAnalyzed" } },
  { service: "memory", handles: ["IterationAnalyzed"], answers: {} },
];

/** Services of the chain, in the order their groups join. */
export const HOP_SERVICES = STAGES.map((stage) => stage.service);
export const PUBLISHES_PER_CHAIN = CHAIN_EVENTS.length;
export const DELIVERIES_PER_CHAIN = STAGES.reduce((sum, stage) => sum + stage.handles.length, 0);

/** The buses of one kind: one per service (as separate processes would have), or one shared. */
export interface HopBuses {
  label: string;
  busFor(service: string): EventBus;
  close(): Promise<void>;
}

export interface HopSettings {
  warmupChains: number;
  /** Events published in the steady phase (a multiple of the chain's 5). */
  steadyEvents: number;
  /** Events published per second in the steady phase, chains started evenly. */
  steadyEventsPerSecond: number;
  /** Events published in the burst phase: every chain's first event at once. */
  burstEvents: number;
  /** Longest wait for a phase's last delivery. */
  phaseTimeoutMs: number;
}

export interface PhaseResult {
  phase: "steady" | "burst";
  chains: number;
  publishedEvents: number;
  deliveries: number;
  expectedDeliveries: number;
  /** Redeliveries of an event to a group that had handled it (not in the latencies). */
  redeliveries: number;
  /** First publish to last handler start. */
  spanSeconds: number;
  publishedPerSecond: number;
  deliveredPerSecond: number;
  latency: LatencySummary;
  latencyByEvent: Record<ChainEvent, LatencySummary>;
}

export interface HopResult {
  bus: string;
  setupSeconds: number;
  warmup: { chains: number; complete: boolean; seconds: number };
  phases: PhaseResult[];
}

/** Samples and counts of one phase. */
class Phase {
  readonly byEvent = new Map<ChainEvent, number[]>(CHAIN_EVENTS.map((name) => [name, []]));
  readonly seen = new Set<string>();
  published = 0;
  deliveries = 0;
  redeliveries = 0;
  firstPublishNs: bigint | undefined;
  lastStartNs = 0n;
  private whenDone: (() => void) | undefined;
  readonly done: Promise<void>;

  constructor(
    readonly name: string,
    readonly chains: number,
  ) {
    this.done = new Promise((resolve) => (this.whenDone = resolve));
    if (this.expected === 0) this.whenDone!();
  }

  get expected(): number {
    return this.chains * DELIVERIES_PER_CHAIN;
  }

  publishing(ns: bigint): void {
    this.published++;
    if (this.firstPublishNs === undefined || ns < this.firstPublishNs) this.firstPublishNs = ns;
  }

  /** False for an event this group had handled already. */
  delivered(group: string, name: ChainEvent, eventId: string, startedNs: bigint, publishedNs: bigint): boolean {
    const key = `${group}/${eventId}`;
    if (this.seen.has(key)) {
      this.redeliveries++;
      return false;
    }
    this.seen.add(key);
    this.byEvent.get(name)!.push(Number(startedNs - publishedNs) / 1e6);
    this.deliveries++;
    if (startedNs > this.lastStartNs) this.lastStartNs = startedNs;
    if (this.deliveries === this.expected) this.whenDone!();
    return true;
  }

  result(phase: PhaseResult["phase"]): PhaseResult {
    const spanSeconds = this.firstPublishNs === undefined ? 0 : Number(this.lastStartNs - this.firstPublishNs) / 1e9;
    const all = [...this.byEvent.values()].flat();
    return {
      phase,
      chains: this.chains,
      publishedEvents: this.published,
      deliveries: this.deliveries,
      expectedDeliveries: this.expected,
      redeliveries: this.redeliveries,
      spanSeconds,
      publishedPerSecond: spanSeconds > 0 ? this.published / spanSeconds : Number.NaN,
      deliveredPerSecond: spanSeconds > 0 ? this.deliveries / spanSeconds : Number.NaN,
      latency: summarizeLatencies(all),
      latencyByEvent: Object.fromEntries(CHAIN_EVENTS.map((name) => [name, summarizeLatencies(this.byEvent.get(name)!)])) as Record<
        ChainEvent,
        LatencySummary
      >,
    };
  }
}

const STAMP = /(?:^|,)mlzbench=([a-z]+)\.(\d+)/;

function readStamp(envelope: EventEnvelope | undefined): { phase: string; ns: bigint } | undefined {
  const match = envelope?.trace?.tracestate.match(STAMP);
  return match ? { phase: match[1]!, ns: BigInt(match[2]!) } : undefined;
}

/** Runs the warm-up, steady and burst phases on one kind of bus. */
export async function measureHops(buses: HopBuses, templates: EventTemplates, settings: HopSettings): Promise<HopResult> {
  const phases = new Map<string, Phase>();
  // One trace per run: the header is there, as in production, but never read.
  const traceparent = `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;

  async function publishStamped(bus: EventBus, name: ChainEvent, taskId: string, phase: Phase): Promise<void> {
    const envelope = create(EventEnvelopeSchema, {
      eventId: randomUUID(),
      taskId,
      tenant: "bench",
      iteration: 1,
      time: timestampNow(),
      trace: create(TraceContextSchema, { traceparent }),
    });
    const message = { ...templates[name], envelope };
    const ns = process.hrtime.bigint();
    envelope.trace!.tracestate = `mlzbench=${phase.name}.${ns}`;
    phase.publishing(ns);
    await (bus.publish as (name: EventName, message: EventMessage<EventName>) => Promise<void>)(name, message);
  }

  function handlersFor(stage: Stage, group: string, bus: EventBus): EventHandlers {
    const handler = (name: ChainEvent) => async (message: EventMessage<ChainEvent>) => {
      const startedNs = process.hrtime.bigint();
      const stamp = readStamp(message.envelope);
      // Events of anything else on the topics (an earlier pipeline run) are passed over.
      const phase = stamp && phases.get(stamp.phase);
      if (!phase || !phase.delivered(group, name, message.envelope!.eventId, startedNs, stamp.ns)) return;
      const answer = stage.answers[name];
      if (answer) await publishStamped(bus, answer, message.envelope!.taskId, phase);
    };
    return Object.fromEntries(stage.handles.map((name) => [name, handler(name)])) as EventHandlers;
  }

  async function settle(phase: Phase): Promise<boolean> {
    const timedOut = Symbol("timed out");
    // Unreferenced: a pending time-out never keeps the process alive.
    const outcome = await Promise.race([phase.done, sleep(settings.phaseTimeoutMs, timedOut, { ref: false })]);
    if (outcome === timedOut) {
      console.warn(
        `${buses.label}, ${phase.name}: ${phase.deliveries} of ${phase.expected} deliveries within ${settings.phaseTimeoutMs} ms`,
      );
      return false;
    }
    return true;
  }

  async function burst(phase: Phase): Promise<void> {
    const gateway = buses.busFor("gateway");
    const sends: Promise<void>[] = [];
    for (let chain = 0; chain < phase.chains; chain++)
      sends.push(publishStamped(gateway, "TaskSubmitted", `${phase.name}-${chain}`, phase));
    await Promise.all(sends);
  }

  async function steady(phase: Phase, chainsPerSecond: number): Promise<void> {
    const gateway = buses.busFor("gateway");
    const sends: Promise<void>[] = [];
    const intervalMs = 1000 / chainsPerSecond;
    const start = performance.now();
    for (let chain = 0; chain < phase.chains; chain++) {
      // Against the schedule, not the previous send: a slow publish never thins the load.
      const wait = start + chain * intervalMs - performance.now();
      if (wait > 0) await sleep(wait);
      sends.push(publishStamped(gateway, "TaskSubmitted", `${phase.name}-${chain}`, phase));
    }
    await Promise.all(sends);
  }

  const setupStarted = performance.now();
  const subscriptions: Subscription[] = [];
  for (const stage of STAGES) {
    const bus = buses.busFor(stage.service);
    const group = `bench-hop-${stage.service}`;
    subscriptions.push(await bus.subscribe({ group, handlers: handlersFor(stage, group, bus) }));
  }
  const setupSeconds = (performance.now() - setupStarted) / 1000;

  try {
    const warmup = new Phase("warmup", settings.warmupChains);
    phases.set(warmup.name, warmup);
    const warmupStarted = performance.now();
    await burst(warmup);
    const warmupComplete = await settle(warmup);
    const warmupSeconds = (performance.now() - warmupStarted) / 1000;
    await sleep(500);

    const results: PhaseResult[] = [];
    const steadyPhase = new Phase("steady", Math.round(settings.steadyEvents / PUBLISHES_PER_CHAIN));
    phases.set(steadyPhase.name, steadyPhase);
    await steady(steadyPhase, settings.steadyEventsPerSecond / PUBLISHES_PER_CHAIN);
    await settle(steadyPhase);
    results.push(steadyPhase.result("steady"));
    await sleep(500);

    const burstPhase = new Phase("burst", Math.round(settings.burstEvents / PUBLISHES_PER_CHAIN));
    phases.set(burstPhase.name, burstPhase);
    await burst(burstPhase);
    await settle(burstPhase);
    results.push(burstPhase.result("burst"));

    return {
      bus: buses.label,
      setupSeconds,
      warmup: { chains: warmup.chains, complete: warmupComplete, seconds: warmupSeconds },
      phases: results,
    };
  } finally {
    await Promise.all(subscriptions.map((subscription) => subscription.close()));
  }
}
