import type { Budget } from "@mlzero/proto";
import { quotaOf, type QuotaPolicy } from "./quotas.js";

/** The GPUs a task holds while it runs: one run's, times the runs of a round. */
export interface GpuHold {
  /** GPUs in all: `perRun × runs`; 0 for a task without GPUs. */
  gpus: number;
  perRun: number;
  /** Programs of a round run at once. */
  runs: number;
}

/**
 * What a task's runs hold at once, as the analyzer sizes a round: the
 * parallelism (or, left at 0, the analyzer's default), cut to
 * `max_gpus / gpus` when `max_gpus` is set and to the iterations of the
 * budget; at least 1 run.
 */
export function gpuHold(budget: Budget | undefined, defaultParallelism: number): GpuHold {
  const perRun = budget?.gpus ?? 0;
  const parallelism = budget?.parallelism || defaultParallelism;
  const byGpus = perRun > 0 && (budget?.maxGpus ?? 0) > 0 ? Math.floor(budget!.maxGpus / perRun) : Infinity;
  const byIterations = budget?.maxIterations || Infinity;
  const runs = Math.max(1, Math.min(parallelism, byGpus, byIterations));
  return { gpus: perRun * runs, perRun, runs };
}

/** A task the admission knows: waiting, or running. */
export interface Admitted {
  taskId: string;
  tenant: string;
  /** GPUs it holds while it runs ({@link GpuHold}). */
  gpus: number;
  /** Arrival order (creation order after a restart): FIFO within a tenant. */
  order: number;
}

interface TenantState {
  waiting: Admitted[];
  running: Map<string, Admitted>;
  gpus: number;
  /** When it last started a task (a counter); -1: never in this process. */
  lastStart: number;
}

/**
 * Which accepted tasks may start, under per-tenant and gateway-wide limits
 * ({@link QuotaPolicy}), in fair order across tenants: a task waits until
 * its tenant has a free running slot and room for its GPUs (and the gateway
 * too); among the tenants whose next task fits, the one with the fewest
 * running tasks goes first, then the one that started a task least
 * recently, then the oldest task. Within a tenant, tasks start in arrival
 * order (a first task too big for the GPUs free holds back its tenant's
 * later ones, so it is never overtaken for ever). So a tenant's burst
 * waits behind its own limit, and when slots are scarce tenants take turns.
 *
 * It keeps counts only: the gateway starts what it picks, and tells it
 * when a task ends. Decisions are synchronous, so two callers never pick
 * the same task.
 */
export class Admission {
  private readonly tenants = new Map<string, TenantState>();
  private readonly tenantOf = new Map<string, string>();
  private nextOrder = 0;
  private starts = 0;
  private runningTotal = 0;
  private gpusTotal = 0;

  /** Adds a task that waits to start, behind its tenant's waiting tasks. */
  enqueue(taskId: string, tenant: string, gpus: number): Admitted {
    const entry: Admitted = { taskId, tenant, gpus, order: this.nextOrder++ };
    this.state(tenant).waiting.push(entry);
    this.tenantOf.set(taskId, tenant);
    return entry;
  }

  /** Counts a task that runs already (restored after a restart). */
  restoreRunning(taskId: string, tenant: string, gpus: number): void {
    this.run({ taskId, tenant, gpus, order: this.nextOrder++ });
  }

  /** Puts back a task taken out of the waiting line, in its place. */
  requeue(entry: Admitted): void {
    const waiting = this.state(entry.tenant).waiting;
    const at = waiting.findIndex((other) => other.order > entry.order);
    waiting.splice(at < 0 ? waiting.length : at, 0, entry);
    this.tenantOf.set(entry.taskId, entry.tenant);
  }

  /** Takes a waiting task out of the line (its cancel); undefined when it is not waiting. */
  withdraw(taskId: string): Admitted | undefined {
    const state = this.tenants.get(this.tenantOf.get(taskId) ?? "");
    const at = state?.waiting.findIndex((entry) => entry.taskId === taskId) ?? -1;
    if (!state || at < 0) return undefined;
    const [entry] = state.waiting.splice(at, 1);
    this.tenantOf.delete(taskId);
    return entry;
  }

  /** Forgets a task that ended, waiting or running: its slot and GPUs are free. */
  release(taskId: string): void {
    const tenant = this.tenantOf.get(taskId);
    if (tenant === undefined) return;
    const state = this.tenants.get(tenant)!;
    const running = state.running.get(taskId);
    if (running) {
      state.running.delete(taskId);
      state.gpus -= running.gpus;
      this.runningTotal--;
      this.gpusTotal -= running.gpus;
      this.tenantOf.delete(taskId);
    } else {
      this.withdraw(taskId);
    }
  }

  isWaiting(taskId: string): boolean {
    const state = this.tenants.get(this.tenantOf.get(taskId) ?? "");
    return state?.waiting.some((entry) => entry.taskId === taskId) ?? false;
  }

  /** A tenant's tasks: running, waiting, and the GPUs its running ones hold. */
  usage(tenant: string): { running: number; queued: number; gpus: number } {
    const state = this.tenants.get(tenant);
    return { running: state?.running.size ?? 0, queued: state?.waiting.length ?? 0, gpus: state?.gpus ?? 0 };
  }

  /** Tasks waiting, over every tenant. */
  waitingCount(): number {
    let count = 0;
    for (const state of this.tenants.values()) count += state.waiting.length;
    return count;
  }

  /**
   * Why a new task of `tenant` holding `hold` GPUs is refused (the message of
   * a RESOURCE_EXHAUSTED, with the limit), or undefined when it may queue.
   */
  refusal(tenant: string, hold: GpuHold, policy: QuotaPolicy): string | undefined {
    const quota = quotaOf(policy, tenant);
    const needs = () =>
      hold.runs > 1 ? `${hold.gpus} GPUs at once (${hold.perRun} per run × ${hold.runs} runs in a round)` : `${hold.gpus} GPUs at once`;
    const lower = hold.runs > 1 ? ": lower budget.parallelism or set budget.max_gpus" : "";
    if (quota.maxGpus > 0 && hold.gpus > quota.maxGpus) {
      return `the task needs ${needs()}, tenant ${tenant} may hold at most ${quota.maxGpus}${lower}`;
    }
    if (policy.total.maxGpus > 0 && hold.gpus > policy.total.maxGpus) {
      return `the task needs ${needs()}, this gateway runs at most ${policy.total.maxGpus} at once${lower}`;
    }
    const queued = this.usage(tenant).queued;
    if (quota.maxQueuedTasks > 0 && queued >= quota.maxQueuedTasks) {
      return `tenant ${tenant} has ${queued} queued task${queued === 1 ? "" : "s"}, its limit is ${quota.maxQueuedTasks}`;
    }
    return undefined;
  }

  /** Why a new task of `tenant` holding `gpus` would wait rather than start now; undefined when it would start. */
  waitReason(tenant: string, gpus: number, policy: QuotaPolicy): string | undefined {
    const usage = this.usage(tenant);
    if (usage.queued > 0) return `behind ${usage.queued} queued task${usage.queued === 1 ? "" : "s"} of tenant ${tenant}`;
    return this.blocker(tenant, gpus, policy);
  }

  /**
   * Picks the waiting tasks that may start now, in fair order, and counts
   * them running. The caller starts them (and calls {@link release} when
   * each ends).
   */
  admit(policy: QuotaPolicy): Admitted[] {
    const picked: Admitted[] = [];
    for (;;) {
      let best: TenantState | undefined;
      for (const [tenant, state] of this.tenants) {
        const head = state.waiting[0];
        if (!head || this.blocker(tenant, head.gpus, policy) !== undefined) continue;
        if (!best || fairer(state, best)) best = state;
      }
      if (!best) return picked;
      const entry = best.waiting.shift()!;
      best.lastStart = this.starts++;
      this.run(entry);
      picked.push(entry);
    }
  }

  /** The limit that keeps a task of `tenant` holding `gpus` from starting now, or undefined. */
  private blocker(tenant: string, gpus: number, policy: QuotaPolicy): string | undefined {
    const quota = quotaOf(policy, tenant);
    const usage = this.usage(tenant);
    const { total } = policy;
    if (quota.maxRunningTasks > 0 && usage.running >= quota.maxRunningTasks) {
      return `tenant ${tenant} runs ${usage.running} task${usage.running === 1 ? "" : "s"}, its limit is ${quota.maxRunningTasks}`;
    }
    if (quota.maxGpus > 0 && usage.gpus + gpus > quota.maxGpus) {
      return `tenant ${tenant} holds ${usage.gpus} of its ${quota.maxGpus} GPUs, the task needs ${gpus}`;
    }
    if (total.maxRunningTasks > 0 && this.runningTotal >= total.maxRunningTasks) {
      return `the gateway runs ${this.runningTotal} tasks, its limit is ${total.maxRunningTasks}`;
    }
    if (total.maxGpus > 0 && this.gpusTotal + gpus > total.maxGpus) {
      return `the gateway's tasks hold ${this.gpusTotal} of its ${total.maxGpus} GPUs, the task needs ${gpus}`;
    }
    return undefined;
  }

  private run(entry: Admitted): void {
    const state = this.state(entry.tenant);
    state.running.set(entry.taskId, entry);
    state.gpus += entry.gpus;
    this.runningTotal++;
    this.gpusTotal += entry.gpus;
    this.tenantOf.set(entry.taskId, entry.tenant);
  }

  private state(tenant: string): TenantState {
    let state = this.tenants.get(tenant);
    if (!state) {
      state = { waiting: [], running: new Map(), gpus: 0, lastStart: -1 };
      this.tenants.set(tenant, state);
    }
    return state;
  }
}

/** True when `a`'s next task goes before `b`'s: fewer running, then the longer since a start, then the older task. */
function fairer(a: TenantState, b: TenantState): boolean {
  if (a.running.size !== b.running.size) return a.running.size < b.running.size;
  if (a.lastStart !== b.lastStart) return a.lastStart < b.lastStart;
  return a.waiting[0]!.order < b.waiting[0]!.order;
}
