import { create } from "@bufbuild/protobuf";
import { TaskSchema, TaskState } from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import { TaskBoard } from "./task-board.js";

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) items.push(item);
  return items;
}

describe("TaskBoard", () => {
  it("numbers updates, replays them after a sequence and follows live ones until the task ends", async () => {
    const board = new TaskBoard();
    board.add(create(TaskSchema, { taskId: "t1", state: TaskState.QUEUED }));
    board.update("t1", "TaskPerceived", (task) => void (task.state = TaskState.CODING));
    const watching = collect(board.watch("t1", 1n, new AbortController().signal));
    board.update("t1", "CodeGenerated", (task) => void (task.state = TaskState.EXECUTING));
    board.update("t1", "TaskFinished", (task) => void (task.state = TaskState.SUCCEEDED));
    board.update("t1", "ExecutionProgress", () => undefined, "too late");
    const updates = await watching;
    expect(updates.map((update) => [update.sequence, update.event, update.task?.state])).toEqual([
      [2n, "TaskPerceived", TaskState.CODING],
      [3n, "CodeGenerated", TaskState.EXECUTING],
      [4n, "TaskFinished", TaskState.SUCCEEDED],
    ]);
    // A finished task replays and ends at once; its snapshots did not change after the fact.
    const replay = await collect(board.watch("t1", 0n, new AbortController().signal));
    expect(replay.map((update) => update.task?.state)).toEqual([
      TaskState.QUEUED,
      TaskState.CODING,
      TaskState.EXECUTING,
      TaskState.SUCCEEDED,
    ]);
  });

  it("ends a watch when its caller goes away", async () => {
    const board = new TaskBoard();
    board.add(create(TaskSchema, { taskId: "t2", state: TaskState.QUEUED }));
    const controller = new AbortController();
    const watching = collect(board.watch("t2", 1n, controller.signal));
    controller.abort();
    expect(await watching).toEqual([]);
  });

  it("lists newest first", () => {
    const board = new TaskBoard();
    for (const taskId of ["a", "b", "c"]) board.add(create(TaskSchema, { taskId }));
    expect(board.all().map((task) => task.taskId)).toEqual(["c", "b", "a"]);
  });
});
