import { taskWorkspace } from "@mlzero/workspace";
import { describe, expect, it } from "vitest";
import { buildJob, cpuCores, jobName, labelValue, specHash, taskSelector, type JobRun, type JobSettings } from "./job-spec.js";

const settings: JobSettings = {
  namespace: "mlzero-jobs",
  image: "runtime:1",
  cpuRequest: "500m",
  cpuLimit: "1.5",
  gpuResource: "nvidia.com/gpu",
  nodeSelector: {},
  tolerations: [],
  gpuNodeSelector: { pool: "gpu" },
  gpuTolerations: [{ key: "gpu", operator: "Exists" }],
  ttlSecondsAfterFinished: 60,
  scratchSizeLimit: "1Gi",
  runAsUser: 1000,
  workspaceClaim: "workspace",
  workspaceRoot: "/workspace",
};

const run: JobRun = {
  tenant: "acme",
  taskId: "task-1",
  iteration: 2,
  candidateId: "iter-002-sklearn",
  programSha256: "ab".repeat(32),
  launcher: "",
  workspace: taskWorkspace("/workspace", "acme", "task-1"),
  memoryLimitBytes: 1024 ** 3,
  gpus: 0,
  deadlineSeconds: 30.2,
};

describe("Job spec", () => {
  it("names a Job after its tenant, task and iteration: the same every time, a DNS label, different per iteration", () => {
    const name = jobName("acme", "task-1", 2);
    expect(name).toBe(jobName("acme", "task-1", 2));
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(name).not.toBe(jobName("acme", "task-1", 3));
    expect(name).not.toBe(jobName("acme2", "task-1", 2));
    expect(jobName("t".repeat(128), "x".repeat(128), 999).length).toBeLessThanOrEqual(63);
  });

  it("keeps an id as its label value when it is one, and hashes it when not", () => {
    expect(labelValue("task-1")).toBe("task-1");
    const long = "a".repeat(100);
    expect(labelValue(long)).toMatch(/^h-[0-9a-f]{40}$/);
    expect(labelValue("_starts-badly")).toMatch(/^h-/);
    expect(taskSelector("acme", long)).toBe(
      `app.kubernetes.io/managed-by=mlzero-executor,mlzero.io/tenant=acme,mlzero.io/task=${labelValue(long)}`,
    );
  });

  it("sizes threads from the CPU limit, rounds the deadline up, and adds GPU placement only for GPU runs", () => {
    const cpu = buildJob(settings, run);
    const container = cpu.spec!.template.spec!.containers[0]!;
    expect(container.env).toContainEqual({ name: "OMP_NUM_THREADS", value: "1" });
    expect(container.command).toEqual(["/bin/sh", "-c", "python main.py"]);
    expect(cpu.spec!.activeDeadlineSeconds).toBe(31);
    expect(cpu.spec!.template.spec!.nodeSelector).toBeUndefined();
    expect(container.resources!.limits).toEqual({ cpu: "1.5", memory: String(1024 ** 3) });

    const gpu = buildJob(settings, { ...run, gpus: 2 });
    expect(gpu.spec!.template.spec!.nodeSelector).toEqual({ pool: "gpu" });
    expect(gpu.spec!.template.spec!.tolerations).toEqual([{ key: "gpu", operator: "Exists" }]);
    expect(gpu.spec!.template.spec!.containers[0]!.resources!.limits!["nvidia.com/gpu"]).toBe("2");
    expect(gpu.spec!.template.spec!.containers[0]!.image).toBe("runtime:1");
  });

  it("hashes the spec the same way whatever the key order, and differently for another program or limit", () => {
    const job = buildJob(settings, run);
    expect(job.metadata!.annotations!["mlzero.io/spec-hash"]).toBe(specHash(job));
    const reordered = JSON.parse(JSON.stringify({ spec: job.spec, metadata: job.metadata }));
    expect(specHash(reordered)).toBe(specHash(job));
    expect(specHash(buildJob(settings, { ...run, programSha256: "cd".repeat(32) }))).not.toBe(specHash(job));
    expect(specHash(buildJob(settings, { ...run, memoryLimitBytes: 2 * 1024 ** 3 }))).not.toBe(specHash(job));
  });

  it("reads CPU quantities and refuses what is not one", () => {
    expect(cpuCores("2")).toBe(2);
    expect(cpuCores("1.5")).toBe(1.5);
    expect(cpuCores("500m")).toBe(0.5);
    expect(() => cpuCores("two")).toThrow(/not a CPU quantity: two/);
  });
});
