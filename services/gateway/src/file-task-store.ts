import { randomBytes } from "node:crypto";
import { appendFile, mkdir, readdir, readFile, rename, rm, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { KeyedQueue } from "@mlzero/pipeline";
import {
  SNAPSHOT_HISTORY_LIMIT,
  cloneTaskSnapshot,
  taskSnapshotFromJson,
  taskSnapshotToJson,
  type TaskSnapshot,
  type TaskStore,
} from "./task-store.js";

/** Options for {@link createFileTaskStore}. */
export interface FileTaskStoreOptions {
  /** Folder of the task files; created when missing. */
  dir: string;
  /** Lines a task file may grow to before it is rewritten as one (default 100). */
  compactAfterLines?: number;
}

const SUFFIX = ".jsonl";
const SAFE_TASK_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * A task store in files, one per task (`<taskId>.jsonl`). A save appends one
 * line: the snapshot with only the Watch updates not written before, so an
 * event costs a small append however long the history. Loading folds the
 * lines (the last snapshot wins; updates accumulate, the latest
 * {@link SNAPSHOT_HISTORY_LIMIT} kept). A file past `compactAfterLines` is
 * rewritten as one line, atomically (temporary file, then rename).
 *
 * A crash in the middle of an append leaves a torn last line: loading skips
 * it (that save never completed, so the event behind it is delivered again)
 * and rewrites the file before anything is appended to it.
 */
export function createFileTaskStore(options: FileTaskStoreOptions): TaskStore {
  const { dir } = options;
  const compactAfterLines = options.compactAfterLines ?? 100;
  // Per task: the highest Watch sequence written and the lines in its file.
  const written = new Map<string, { sequence: bigint; lines: number }>();
  // Saves and deletes of one task run in order, each writing what it was given.
  const queue = new KeyedQueue();
  let ready: Promise<unknown> | undefined;
  const ensureDir = () => (ready ??= mkdir(dir, { recursive: true }));

  const fileOf = (taskId: string) => {
    if (!SAFE_TASK_ID.test(taskId)) throw new Error(`task id ${JSON.stringify(taskId)} cannot name a file`);
    return path.join(dir, `${taskId}${SUFFIX}`);
  };

  async function rewrite(snapshot: TaskSnapshot): Promise<void> {
    const file = fileOf(snapshot.task.taskId);
    const temp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(temp, taskSnapshotToJson(snapshot) + "\n");
    try {
      await rename(temp, file);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
    written.set(snapshot.task.taskId, { sequence: lastSequence(snapshot), lines: 1 });
  }

  return {
    async loadAll() {
      await ensureDir();
      const snapshots: TaskSnapshot[] = [];
      for (const name of (await readdir(dir)).filter((entry) => entry.endsWith(SUFFIX)).sort()) {
        const text = await readFile(path.join(dir, name), "utf8");
        const lines = text.split("\n").filter((line) => line.trim() !== "");
        const parsed = lines.flatMap((line) => {
          try {
            return [taskSnapshotFromJson(line)];
          } catch {
            return []; // a torn last line: its save never completed
          }
        });
        const latest = parsed.at(-1);
        if (!latest) continue;
        const history = new Map<bigint, TaskSnapshot["history"][number]>();
        for (const snapshot of parsed) for (const update of snapshot.history) history.set(update.sequence, update);
        const snapshot: TaskSnapshot = {
          ...latest,
          history: [...history.values()].sort((a, b) => (a.sequence < b.sequence ? -1 : 1)).slice(-SNAPSHOT_HISTORY_LIMIT),
        };
        if (parsed.length !== lines.length || !text.endsWith("\n") || lines.length > compactAfterLines) await rewrite(snapshot);
        else written.set(snapshot.task.taskId, { sequence: lastSequence(snapshot), lines: lines.length });
        snapshots.push(snapshot);
      }
      return snapshots;
    },

    save(snapshot) {
      const taskId = snapshot.task.taskId;
      // Copied now: the board goes on changing its task and context in place
      // (its Watch updates are never changed once made).
      const copy: TaskSnapshot = { ...cloneTaskSnapshot({ ...snapshot, history: [] }), history: [...snapshot.history] };
      return queue.run(taskId, async () => {
        await ensureDir();
        const state = written.get(taskId);
        if (!state || state.lines >= compactAfterLines) return rewrite(copy);
        const fresh = copy.history.filter((update) => update.sequence > state.sequence);
        await appendFile(fileOf(taskId), taskSnapshotToJson({ ...copy, history: fresh }) + "\n");
        written.set(taskId, { sequence: fresh.at(-1)?.sequence ?? state.sequence, lines: state.lines + 1 });
      });
    },

    delete(taskId) {
      return queue.run(taskId, async () => {
        await rm(fileOf(taskId), { force: true });
        written.delete(taskId);
      });
    },

    async close() {
      await queue.idle();
    },
  };
}

function lastSequence(snapshot: TaskSnapshot): bigint {
  return snapshot.history.at(-1)?.sequence ?? snapshot.task.sequence;
}
