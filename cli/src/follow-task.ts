import { setTimeout as sleep } from "node:timers/promises";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Task } from "@mlzero/proto";
import { GrpcStatus, RpcError } from "@mlzero/rpc";
import type { CommandIo } from "./cli-command.js";
import type { TaskClient } from "./gateway-client.js";
import { ProgressDisplay } from "./progress-display.js";
import { isFinished } from "./task-text.js";

/** Options for {@link followTask}. */
export interface FollowTaskOptions {
  /** The gateway's address, for messages. */
  address: string;
  io: CommandIo;
  /** Replay the updates after this sequence number (0: from the start). */
  afterSequence?: bigint;
  /** How long to keep reconnecting to a gateway that went away (default 60 s). */
  reconnectForMs?: number;
}

/** How following a task ended. */
export interface FollowResult {
  /** The task as of its last update; finished unless interrupted. */
  task: Task;
  /** Ctrl-C stopped the watching (the task itself goes on). */
  interrupted: boolean;
}

const RECONNECT_FOR_MS = 60_000;
const RECONNECT_BACKOFF_MS = [250, 500, 1_000, 2_000];

/**
 * Streams a task's updates into the progress display until it finishes.
 * The gateway may restart meanwhile (a crash, a rolling update): when the
 * stream is cut, or ends before the task does, it reconnects
 * for up to `reconnectForMs` and resumes after the last sequence it saw.
 * Ctrl-C stops watching, not the task.
 */
export async function followTask(tasks: TaskClient, task: Task, options: FollowTaskOptions): Promise<FollowResult> {
  const { io, address } = options;
  const reconnectForMs = options.reconnectForMs ?? RECONNECT_FOR_MS;
  const display = new ProgressDisplay(
    { write: (text) => io.stderr.write(text), isTTY: Boolean(io.stderr.isTTY), columns: io.stderr.columns ?? 120 },
    { startedAtMs: task.createdAt ? timestampMs(task.createdAt) : undefined },
  );
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once("SIGINT", interrupt);
  let last = task;
  let after = options.afterSequence ?? 0n;
  let lostSince: number | undefined;
  let attempt = 0;
  try {
    for (;;) {
      try {
        for await (const update of tasks.watch({ taskId: task.taskId, afterSequence: after }, { signal: controller.signal })) {
          if (lostSince !== undefined) {
            io.stderr.write(`mlzero: reconnected to the gateway at ${address}\n`);
            lostSince = undefined;
            attempt = 0;
          }
          after = update.sequence;
          // A heartbeat: the stream is alive, nothing changed.
          if (update.heartbeat) continue;
          display.update(update);
          if (update.task) last = update.task;
        }
        if (isFinished(last)) return { task: last, interrupted: false };
        // The gateway ended the stream early, as one does when it shuts down.
        throw new RpcError(GrpcStatus.UNAVAILABLE, "the gateway closed the stream");
      } catch (error) {
        if (controller.signal.aborted) return { task: last, interrupted: true };
        if (!isConnectionLoss(error)) throw error;
        const now = Date.now();
        if (lostSince === undefined) {
          lostSince = now;
          display.finish();
          io.stderr.write(`mlzero: lost the gateway at ${address}; reconnecting for up to ${Math.round(reconnectForMs / 1000)} s\n`);
        } else if (now - lostSince >= reconnectForMs) {
          throw error;
        }
        const delay = RECONNECT_BACKOFF_MS[Math.min(attempt++, RECONNECT_BACKOFF_MS.length - 1)]!;
        await sleep(delay, undefined, { signal: controller.signal }).catch(() => undefined);
        if (controller.signal.aborted) return { task: last, interrupted: true };
      }
    }
  } finally {
    process.removeListener("SIGINT", interrupt);
    display.finish();
  }
}

/**
 * A stream cut by the gateway going away: UNAVAILABLE when its process died
 * or cannot be reached, CANCELLED when it shut down with the call open
 * (grpc-js cancels open calls on a forced shutdown). Only ever asked when
 * this client did not cancel the call itself.
 */
function isConnectionLoss(error: unknown): error is RpcError {
  return error instanceof RpcError && (error.code === GrpcStatus.UNAVAILABLE || error.code === GrpcStatus.CANCELLED);
}

/** After Ctrl-C: the task goes on without us; say how to get back to it. Exit code 130, as for SIGINT. */
export function reportInterrupted(task: Task, io: CommandIo): number {
  io.stderr.write(`mlzero: stopped watching; task ${task.taskId} goes on (mlzero watch ${task.taskId}, mlzero cancel ${task.taskId})\n`);
  return 130;
}
