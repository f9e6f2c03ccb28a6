import { appendFile, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { TaskSchema, TaskState } from "@mlzero/proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFileTaskStore } from "./file-task-store.js";
import { TaskBoard } from "./task-board.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "task-store-"));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

/** A board with one task moved through `steps` updates, saving after each as the gateway does. */
async function boardWithUpdates(store: ReturnType<typeof createFileTaskStore>, taskId: string, steps: number) {
  const board = new TaskBoard();
  board.add(create(TaskSchema, { taskId, state: TaskState.QUEUED, createdAt: timestampFromMs(Date.now()) }), `key-${taskId}`);
  await store.save(board.snapshot(taskId)!);
  for (let step = 0; step < steps; step++) {
    board.update(taskId, "ExecutionProgress", (task) => void (task.message = `step ${step}`), `tail ${step}`, `event-${step}`);
    // Not awaited one by one: saves of a task are written in order anyway.
    void store.save(board.snapshot(taskId)!);
  }
  await store.save(board.snapshot(taskId)!);
  return board;
}

describe("file task store", () => {
  it("appends a line per save and loads the latest snapshot with the whole history", async () => {
    const store = createFileTaskStore({ dir, compactAfterLines: 1_000 });
    await store.loadAll();
    const board = await boardWithUpdates(store, "t1", 5);
    await boardWithUpdates(store, "t2", 1);
    const lines = (await readFile(path.join(dir, "t1.jsonl"), "utf8")).trimEnd().split("\n");
    expect(lines).toHaveLength(7);
    // Each line holds only the updates not written before.
    expect(lines.map((line) => (JSON.parse(line) as { history: string[] }).history.length)).toEqual([1, 1, 1, 1, 1, 1, 0]);

    const loaded = await createFileTaskStore({ dir }).loadAll();
    const t1 = loaded.find((snapshot) => snapshot.task.taskId === "t1")!;
    expect(t1.task).toEqual(board.get("t1")!.task);
    expect(t1.idempotencyKey).toBe("key-t1");
    expect(t1.seenEventIds).toEqual(["event-0", "event-1", "event-2", "event-3", "event-4"]);
    expect(t1.history.map((update) => [update.sequence, update.logTail])).toEqual([
      [1n, ""],
      [2n, "tail 0"],
      [3n, "tail 1"],
      [4n, "tail 2"],
      [5n, "tail 3"],
      [6n, "tail 4"],
    ]);
    expect(loaded.map((snapshot) => snapshot.task.taskId).sort()).toEqual(["t1", "t2"]);
  });

  it("skips a torn last line, and rewrites the file before appending to it", async () => {
    const store = createFileTaskStore({ dir });
    await store.loadAll();
    const board = await boardWithUpdates(store, "t1", 2);
    await appendFile(path.join(dir, "t1.jsonl"), '{"version":1,"task":"CgJ0');

    const reopened = createFileTaskStore({ dir });
    const [loaded] = await reopened.loadAll();
    expect(loaded!.task).toEqual(board.get("t1")!.task);
    const restored = new TaskBoard();
    restored.restoreAll([loaded!]);
    restored.update("t1", "ExecutionProgress", () => undefined, "after the crash");
    await reopened.save(restored.snapshot("t1")!);
    const [again] = await createFileTaskStore({ dir }).loadAll();
    expect(again!.history.at(-1)?.logTail).toBe("after the crash");
    expect(again!.task.sequence).toBe(board.get("t1")!.task.sequence + 1n);
  });

  it("compacts a long file into one line", async () => {
    const store = createFileTaskStore({ dir, compactAfterLines: 4 });
    await store.loadAll();
    const board = await boardWithUpdates(store, "t1", 9);
    const lines = (await readFile(path.join(dir, "t1.jsonl"), "utf8")).trimEnd().split("\n");
    expect(lines.length).toBeLessThanOrEqual(4);
    const [loaded] = await createFileTaskStore({ dir }).loadAll();
    expect(loaded!.task).toEqual(board.get("t1")!.task);
    expect(loaded!.history.map((update) => update.sequence)).toEqual(board.get("t1")!.history.map((update) => update.sequence));
  });

  it("deletes a task's file after its saves in flight, so no instance loads it, and a later save starts it over", async () => {
    const store = createFileTaskStore({ dir });
    await store.loadAll();
    const board = await boardWithUpdates(store, "t1", 2);
    await boardWithUpdates(store, "t2", 1);
    board.update("t1", "ExecutionProgress", () => undefined, "in flight");
    void store.save(board.snapshot("t1")!);
    await store.delete("t1");
    await store.delete("never-saved");
    expect(await readdir(dir)).toEqual(["t2.jsonl"]);
    expect((await createFileTaskStore({ dir }).loadAll()).map((snapshot) => snapshot.task.taskId)).toEqual(["t2"]);

    // Saved again: written whole, not appended as if the earlier lines were still there.
    await store.save(board.snapshot("t1")!);
    const t1 = (await createFileTaskStore({ dir }).loadAll()).find((snapshot) => snapshot.task.taskId === "t1")!;
    expect(t1.history.map((update) => update.sequence)).toEqual(board.get("t1")!.history.map((update) => update.sequence));
  });
});
