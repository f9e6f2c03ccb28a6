import { timestampMs } from "@bufbuild/protobuf/wkt";
import { TaskState, type WatchResponse } from "@mlzero/proto";

const STATE_TEXT: Partial<Record<TaskState, string>> = {
  [TaskState.QUEUED]: "queued",
  [TaskState.PERCEIVING]: "perceiving",
  [TaskState.CODING]: "coding",
  [TaskState.EXECUTING]: "executing",
  [TaskState.ANALYZING]: "analyzing",
  [TaskState.SUCCEEDED]: "succeeded",
  [TaskState.FAILED]: "failed",
  [TaskState.CANCELLED]: "cancelled",
};

const TERMINAL = new Set([TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED]);

/** Where progress goes: a terminal gets one live line, anything else a line per change. */
export interface ProgressSink {
  write(text: string): void;
  isTTY: boolean;
  columns: number;
}

/** Options for {@link ProgressDisplay}. */
export interface ProgressDisplayOptions {
  /**
   * When the task started (ms since the epoch, the gateway's clock). When
   * given, elapsed time runs from here to each update's own time, so a
   * replay of an older task shows when each step happened; otherwise from
   * the display's creation to now.
   */
  startedAtMs?: number;
}

/**
 * Shows a task's progress from its Watch updates: stage, iteration, elapsed
 * time, tool, and the last line of the running program's log.
 */
export class ProgressDisplay {
  private lastLine = "";
  private lastTail = "";
  private printedTail = "";
  private readonly startedAt: number;
  private readonly eventClock: boolean;

  constructor(
    private readonly sink: ProgressSink,
    options: ProgressDisplayOptions = {},
  ) {
    this.startedAt = options.startedAtMs ?? Date.now();
    this.eventClock = options.startedAtMs !== undefined;
  }

  update(update: WatchResponse): void {
    const task = update.task;
    // The final state is the command's summary to say, once.
    if (!task || TERMINAL.has(task.state)) return;
    if (update.logTail) this.lastTail = lastLine(update.logTail);
    const now = this.eventClock && update.time ? timestampMs(update.time) : Date.now();
    const elapsed = formatElapsed(now - this.startedAt);
    const stage = STATE_TEXT[task.state] ?? "unknown";
    const iteration = task.iteration > 0 ? ` · iteration ${task.iteration}` : "";
    const tool = task.tool ? ` · ${task.tool}` : "";
    const status = `[${elapsed}] ${stage}${iteration}${tool}`;
    if (this.sink.isTTY) {
      const detail = task.state === TaskState.EXECUTING && this.lastTail ? this.lastTail : task.message;
      const line = `${status} │ ${detail}`.slice(0, Math.max(20, this.sink.columns - 1));
      this.sink.write(`\r\x1b[K${line}`);
      return;
    }
    // Without a terminal, print only what changed: stage messages, and log lines when they move.
    const line = `${status} │ ${task.message}`;
    if (line.replace(/^\[[^\]]*\] /, "") !== this.lastLine.replace(/^\[[^\]]*\] /, "")) {
      this.sink.write(`${line}\n`);
      this.lastLine = line;
    } else if (update.event === "ExecutionProgress" && this.lastTail && this.lastTail !== this.printedTail) {
      this.sink.write(`[${elapsed}]   ${this.lastTail}\n`);
      this.printedTail = this.lastTail;
    }
  }

  /** Ends the live line so later output starts on a fresh line. */
  finish(): void {
    if (this.sink.isTTY) this.sink.write("\n");
  }
}

function lastLine(text: string): string {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  return lines.at(-1) ?? "";
}

function formatElapsed(ms: number): string {
  const seconds = Math.floor(Math.max(0, ms) / 1000);
  return `${String(Math.floor(seconds / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;
}
