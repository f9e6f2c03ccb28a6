import { describe, expect, it } from "vitest";
import { jobSettingsOf, loadExecutorConfig } from "./config.js";

describe("executor config", () => {
  it("runs programs locally by default, with the runtime's Python", () => {
    const config = loadExecutorConfig({ MLZERO_WORKSPACE_ROOT: "/w", MLZERO_PYTHON: "/venv/bin/python" });
    expect(config.MLZERO_EXECUTOR_RUNNER).toBe("local");
    expect(() => loadExecutorConfig({ MLZERO_WORKSPACE_ROOT: "/w" })).toThrow(/the local runner needs MLZERO_PYTHON/);
  });

  it("reads the Kubernetes runner's Job settings, and says which it lacks", () => {
    const config = loadExecutorConfig({
      MLZERO_WORKSPACE_ROOT: "/workspace",
      MLZERO_EXECUTOR_RUNNER: "kubernetes",
      MLZERO_K8S_IMAGE: "runtime:1",
      MLZERO_K8S_WORKSPACE_CLAIM: "workspace",
      MLZERO_K8S_GPU_TOLERATIONS: '[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]',
      MLZERO_K8S_GPU_NODE_SELECTOR: '{"pool": "gpu"}',
      MLZERO_K8S_KUEUE_QUEUE: "gpu-queue",
      MLZERO_K8S_KUEUE_PRIORITY_CLASS: "batch-low",
    });
    expect(jobSettingsOf(config)).toMatchObject({
      namespace: "mlzero-jobs",
      image: "runtime:1",
      cpuRequest: "1",
      cpuLimit: "2",
      gpuTolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      gpuNodeSelector: { pool: "gpu" },
      kueueQueue: "gpu-queue",
      kueuePriorityClass: "batch-low",
      workspaceRoot: "/workspace",
      workspaceClaim: "workspace",
    });
    expect(() => loadExecutorConfig({ MLZERO_WORKSPACE_ROOT: "/w", MLZERO_EXECUTOR_RUNNER: "kubernetes" })).toThrow(
      /the kubernetes runner needs MLZERO_K8S_IMAGE and MLZERO_K8S_WORKSPACE_CLAIM/,
    );
  });

  it("names each malformed setting", () => {
    const attempt = () =>
      loadExecutorConfig({
        MLZERO_WORKSPACE_ROOT: "/w",
        MLZERO_EXECUTOR_RUNNER: "kubernetes",
        MLZERO_K8S_IMAGE: "runtime:1",
        MLZERO_K8S_WORKSPACE_CLAIM: "workspace",
        MLZERO_K8S_CPU_LIMIT: "2Gi",
        MLZERO_K8S_TOLERATIONS: '[{"key": "a", "operator": "Sometimes"}]',
        MLZERO_K8S_NODE_SELECTOR: "pool=gpu",
      });
    expect(attempt).toThrow(/MLZERO_K8S_CPU_LIMIT: expected a CPU quantity/);
    expect(attempt).toThrow(/MLZERO_K8S_TOLERATIONS/);
    expect(attempt).toThrow(/MLZERO_K8S_NODE_SELECTOR: expected JSON/);
  });
});
