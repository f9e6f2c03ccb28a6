import { create } from "@bufbuild/protobuf";
import { BudgetSchema } from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import { Admission, gpuHold } from "./admission.js";
import { NO_QUOTAS, type QuotaPolicy, type TenantQuota } from "./quotas.js";

function policy(
  defaults: Partial<TenantQuota> = {},
  total: Partial<QuotaPolicy["total"]> = {},
  tenants: Record<string, Partial<TenantQuota>> = {},
) {
  return {
    defaults: { ...NO_QUOTAS.defaults, ...defaults },
    tenants: new Map(Object.entries(tenants)),
    total: { ...NO_QUOTAS.total, ...total },
  } satisfies QuotaPolicy;
}

describe("gpuHold", () => {
  it.each([
    ["no GPUs", {}, 4, { gpus: 0, perRun: 0, runs: 4 }],
    ["one run", { gpus: 2, parallelism: 1 }, 4, { gpus: 2, perRun: 2, runs: 1 }],
    ["a round of four", { gpus: 2, parallelism: 4 }, 1, { gpus: 8, perRun: 2, runs: 4 }],
    ["cut to max_gpus / gpus, as the analyzer cuts a round", { gpus: 2, parallelism: 4, maxGpus: 5 }, 1, { gpus: 4, perRun: 2, runs: 2 }],
    ["the analyzer's default width when parallelism is 0", { gpus: 1 }, 3, { gpus: 3, perRun: 1, runs: 3 }],
    ["never wider than the iterations", { gpus: 1, parallelism: 8, maxIterations: 2 }, 1, { gpus: 2, perRun: 1, runs: 2 }],
  ])("%s", (_, budget, defaultParallelism, expected) => {
    expect(gpuHold(create(BudgetSchema, budget), defaultParallelism)).toEqual(expected);
  });
});

describe("Admission", () => {
  it("starts a tenant's tasks in arrival order, up to its running limit", () => {
    const admission = new Admission();
    const limits = policy({ maxRunningTasks: 2 });
    for (const id of ["a1", "a2", "a3"]) admission.enqueue(id, "acme", 0);
    expect(admission.admit(limits).map((entry) => entry.taskId)).toEqual(["a1", "a2"]);
    expect(admission.usage("acme")).toEqual({ running: 2, queued: 1, gpus: 0 });
    expect(admission.admit(limits)).toEqual([]);
    admission.release("a2");
    expect(admission.admit(limits).map((entry) => entry.taskId)).toEqual(["a3"]);
  });

  it("lets another tenant start while one tenant's burst waits behind its own limit", () => {
    const admission = new Admission();
    const limits = policy({ maxRunningTasks: 1 });
    for (let index = 1; index <= 100; index++) admission.enqueue(`a${index}`, "acme", 0);
    expect(admission.admit(limits).map((entry) => entry.taskId)).toEqual(["a1"]);
    admission.enqueue("g1", "globex", 0);
    expect(admission.admit(limits).map((entry) => entry.taskId)).toEqual(["g1"]);
  });

  it("takes turns across tenants when the gateway's slots are scarce", () => {
    const admission = new Admission();
    const limits = policy({}, { maxRunningTasks: 1 });
    const order: string[] = [];
    const step = () => {
      const [started] = admission.admit(limits);
      if (started) order.push(started.taskId);
      return started;
    };
    admission.enqueue("a1", "acme", 0);
    step();
    for (const id of ["a2", "a3", "a4"]) admission.enqueue(id, "acme", 0);
    for (const id of ["g1", "g2"]) admission.enqueue(id, "globex", 0);
    admission.enqueue("i1", "initech", 0);
    for (let running = order.at(-1); running; running = step()?.taskId) admission.release(running);
    expect(order).toEqual(["a1", "g1", "i1", "a2", "g2", "a3", "a4"]);
  });

  it("counts GPUs against the tenant's and the gateway's limits, and keeps a big task's place in line", () => {
    const admission = new Admission();
    const limits = policy({ maxGpus: 4 }, { maxGpus: 6 });
    admission.enqueue("a1", "acme", 4);
    admission.enqueue("a2", "acme", 1);
    admission.enqueue("g1", "globex", 4);
    admission.enqueue("g2", "globex", 2);
    // a1 holds acme's 4; g1 would take the gateway past its 6, and g2 waits behind g1.
    expect(admission.admit(limits).map((entry) => entry.taskId)).toEqual(["a1"]);
    expect(admission.waitReason("acme", 1, limits)).toBe("behind 1 queued task of tenant acme");
    admission.release("a1");
    expect(admission.admit(limits).map((entry) => entry.taskId)).toEqual(["g1", "a2"]);
    expect(admission.usage("globex")).toEqual({ running: 1, queued: 1, gpus: 4 });
  });

  it("refuses a task over the queued limit, or needing more GPUs than may ever be held, with the limit", () => {
    const admission = new Admission();
    const limits = policy({ maxRunningTasks: 1, maxQueuedTasks: 2, maxGpus: 4 }, { maxGpus: 6 }, { globex: { maxGpus: 8 } });
    const none = { gpus: 0, perRun: 0, runs: 1 };
    for (const id of ["a1", "a2", "a3"]) admission.enqueue(id, "acme", 0);
    admission.admit(limits);
    expect(admission.refusal("acme", none, limits)).toBe("tenant acme has 2 queued tasks, its limit is 2");
    expect(admission.refusal("globex", none, limits)).toBeUndefined();
    expect(admission.refusal("acme", { gpus: 8, perRun: 2, runs: 4 }, limits)).toBe(
      "the task needs 8 GPUs at once (2 per run × 4 runs in a round), tenant acme may hold at most 4: lower budget.parallelism or set budget.max_gpus",
    );
    expect(admission.refusal("globex", { gpus: 5, perRun: 5, runs: 1 }, limits)).toBeUndefined();
    expect(admission.refusal("globex", { gpus: 7, perRun: 7, runs: 1 }, limits)).toBe(
      "the task needs 7 GPUs at once, this gateway runs at most 6 at once",
    );
  });

  it("takes a waiting task out of line and puts it back in its place", () => {
    const admission = new Admission();
    for (const id of ["a1", "a2", "a3"]) admission.enqueue(id, "acme", 0);
    const withdrawn = admission.withdraw("a2")!;
    expect(admission.isWaiting("a2")).toBe(false);
    expect(admission.withdraw("a2")).toBeUndefined();
    admission.requeue(withdrawn);
    expect(admission.admit(NO_QUOTAS).map((entry) => entry.taskId)).toEqual(["a1", "a2", "a3"]);
    expect(admission.withdraw("a1")).toBeUndefined(); // running: not in line
  });
});
