import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ListRequestSchema, ListResponseSchema, TaskSchema, TaskState, type ListRequest, type Task } from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import { listTasks } from "./ls-command.js";

/** A gateway's List over `tasks` (newest first) in pages of `size`, recording each request. */
function pagedList(tasks: Task[], size: number) {
  const requests: ListRequest[] = [];
  return {
    requests,
    async list(init: MessageInitShape<typeof ListRequestSchema>) {
      const request = create(ListRequestSchema, init);
      requests.push(request);
      const matching = tasks.filter((task) => !request.state || task.state === request.state);
      const offset = request.pageToken ? Number(request.pageToken) : 0;
      const pageSize = Math.min(request.pageSize || 50, size);
      const next = offset + pageSize < matching.length ? String(offset + pageSize) : "";
      return create(ListResponseSchema, { tasks: matching.slice(offset, offset + pageSize), nextPageToken: next });
    },
  };
}

const tasks = Array.from({ length: 7 }, (_, index) =>
  create(TaskSchema, {
    taskId: `t${7 - index}`,
    state: index % 2 ? TaskState.FAILED : TaskState.SUCCEEDED,
    createdAt: timestampFromMs(1_000_000 - index * 1000),
  }),
);

describe("listTasks", () => {
  it("follows page tokens up to the limit, newest first", async () => {
    const client = pagedList(tasks, 2);
    const found = await listTasks(client, { state: TaskState.UNSPECIFIED, limit: 5, pageSize: 2 });
    expect(found.map((task) => task.taskId)).toEqual(["t7", "t6", "t5", "t4", "t3"]);
    expect(client.requests.map((request) => [request.pageToken, request.pageSize])).toEqual([
      ["", 2],
      ["2", 2],
      ["4", 1],
    ]);
  });

  it("stops at the last page and passes the state on", async () => {
    const client = pagedList(tasks, 2);
    const found = await listTasks(client, { state: TaskState.FAILED, limit: 100, pageSize: 2 });
    expect(found.map((task) => task.taskId)).toEqual(["t6", "t4", "t2"]);
    expect(client.requests.every((request) => request.state === TaskState.FAILED)).toBe(true);
  });

  it("does not loop on an empty page that still carries a token", async () => {
    const list = async () => create(ListResponseSchema, { tasks: [], nextPageToken: "again" });
    expect(await listTasks({ list }, { state: TaskState.UNSPECIFIED, limit: 10 })).toEqual([]);
  });
});
