import { timestampMs } from "@bufbuild/protobuf/wkt";
import { TaskState, type Task } from "@mlzero/proto";
import { metrics } from "@mlzero/telemetry";
import { isTerminal } from "./task-board.js";
import type { TaskSnapshot, TaskStore } from "./task-store.js";

interface Spent {
  calls: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
}

interface Seen {
  tenant: string;
  state: TaskState;
  /** LLM usage per agent counted so far; dropped once the task ended. */
  spent: Map<string, Spent> | undefined;
}

/**
 * A task store that keeps the gateway's task metrics as it saves: every
 * change of a task is saved before it takes effect, so the saves tell each
 * task's state, its end, and its LLM usage as it grows, exactly once per
 * change (a redelivered event that changes nothing saves nothing new).
 *
 * - `mlzero_tasks{tenant,state}` and `mlzero_queue_depth{queue="gateway_tasks"}`
 *   from every task's latest state (those loaded at a restart included; a
 *   deleted task leaves them);
 * - `mlzero_tasks_submitted_total`, `mlzero_tasks_finished_total{outcome}`
 *   and `mlzero_task_duration_seconds` as tasks arrive and end;
 * - `mlzero_llm_tokens_total`, `mlzero_llm_cost_usd_total` and
 *   `mlzero_llm_calls_total` by agent, from the growth of each task's
 *   `llm_usage` (the agents' counts, carried on the pipeline's events).
 *
 * Counters count what this process saw happen; a restart starts them again
 * (Prometheus's `rate` and `increase` expect that).
 */
export function withTaskMetrics(store: TaskStore): TaskStore {
  const seen = new Map<string, Seen>();

  function observe(task: Task, live: boolean): void {
    const before = seen.get(task.taskId);
    const state = task.state;
    const tenant = task.tenant;
    metrics.taskState(tenant, before && TaskState[before.state], TaskState[state]);
    if (before?.state !== state) {
      if (before?.state === TaskState.QUEUED) metrics.queueDepth("gateway_tasks", -1);
      if (state === TaskState.QUEUED) metrics.queueDepth("gateway_tasks", 1);
    }
    const ended = isTerminal(state);
    if (live && !before) metrics.taskSubmitted(tenant);
    if (live && ended && !(before && isTerminal(before.state))) {
      const seconds = task.createdAt && task.finishedAt ? (timestampMs(task.finishedAt) - timestampMs(task.createdAt)) / 1000 : undefined;
      metrics.taskFinished(tenant, TaskState[state].toLowerCase(), seconds);
    }
    const spent = before?.spent ?? new Map<string, Spent>();
    for (const usage of task.llmUsage) {
      const now: Spent = {
        calls: usage.calls,
        promptTokens: Number(usage.promptTokens),
        completionTokens: Number(usage.completionTokens),
        costUsd: usage.costUsd,
      };
      const earlier = spent.get(usage.agent);
      // A task loaded at a restart was counted by the process before: only its growth from here counts.
      if (live && (before?.spent || !before)) {
        metrics.llm({
          agent: usage.agent,
          calls: Math.max(0, now.calls - (earlier?.calls ?? 0)),
          promptTokens: Math.max(0, now.promptTokens - (earlier?.promptTokens ?? 0)),
          completionTokens: Math.max(0, now.completionTokens - (earlier?.completionTokens ?? 0)),
          costUsd: Math.max(0, now.costUsd - (earlier?.costUsd ?? 0)),
        });
      }
      spent.set(usage.agent, {
        calls: Math.max(now.calls, earlier?.calls ?? 0),
        promptTokens: Math.max(now.promptTokens, earlier?.promptTokens ?? 0),
        completionTokens: Math.max(now.completionTokens, earlier?.completionTokens ?? 0),
        costUsd: Math.max(now.costUsd, earlier?.costUsd ?? 0),
      });
    }
    seen.set(task.taskId, { tenant, state, spent: ended ? undefined : spent });
  }

  return {
    async loadAll(): Promise<TaskSnapshot[]> {
      const snapshots = await store.loadAll();
      for (const snapshot of snapshots) observe(snapshot.task, false);
      return snapshots;
    },
    async save(snapshot: TaskSnapshot): Promise<void> {
      await store.save(snapshot);
      observe(snapshot.task, true);
    },
    async delete(taskId: string): Promise<void> {
      await store.delete(taskId);
      const before = seen.get(taskId);
      if (!before) return;
      // Gone from the gauges: a forgotten task counts nowhere.
      metrics.taskState(before.tenant, TaskState[before.state], undefined);
      if (before.state === TaskState.QUEUED) metrics.queueDepth("gateway_tasks", -1);
      seen.delete(taskId);
    },
    ...(store.close ? { close: () => store.close!() } : {}),
  };
}
