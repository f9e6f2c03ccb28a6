import { ConfigError, count, json, parseEnv } from "@mlzero/config";
import { z } from "zod";
import type { JobSettings } from "./kubernetes/job-spec.js";

const cpu = () => z.string().regex(/^\d+(\.\d+)?m?$/, "expected a CPU quantity, e.g. 2, 1.5, 500m");
const bytes = () => z.string().regex(/^\d+([KMGTPE]i?)?$/, "expected a size, e.g. 2Gi, 500Mi");
const labels = () => json(z.record(z.string(), z.string()));
const tolerations = () =>
  json(
    z.array(
      z.strictObject({
        key: z.string().optional(),
        operator: z.enum(["Exists", "Equal"]).optional(),
        value: z.string().optional(),
        effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
        tolerationSeconds: z.number().int().optional(),
      }),
    ),
  );

/** The executor's settings from the environment. */
export function loadExecutorConfig(env: NodeJS.ProcessEnv) {
  const config = parseEnv(
    {
      MLZERO_WORKSPACE_ROOT: z.string().min(1),
      // Where programs run: local subprocesses, or Kubernetes Jobs.
      MLZERO_EXECUTOR_RUNNER: z.enum(["local", "kubernetes"]).default("local"),
      // Programs this executor runs at once; more wait their turn (recorded,
      // so a restart starts them). Unset: no limit.
      MLZERO_EXECUTOR_CONCURRENCY: count().optional(),
      // local: the Python of the runtime programs run in (the project's .venv).
      MLZERO_PYTHON: z.string().min(1).optional(),
      // kubernetes: see docs/kubernetes-executor.md for each.
      MLZERO_K8S_NAMESPACE: z.string().min(1).default("mlzero-jobs"),
      MLZERO_K8S_IMAGE: z.string().min(1).optional(),
      MLZERO_K8S_GPU_IMAGE: z.string().min(1).optional(),
      MLZERO_K8S_IMAGE_PULL_POLICY: z.enum(["Always", "IfNotPresent", "Never"]).optional(),
      MLZERO_K8S_CPU_REQUEST: cpu().default("1"),
      MLZERO_K8S_CPU_LIMIT: cpu().default("2"),
      MLZERO_K8S_GPU_RESOURCE: z.string().min(1).default("nvidia.com/gpu"),
      MLZERO_K8S_NODE_SELECTOR: labels().default({}),
      MLZERO_K8S_TOLERATIONS: tolerations().default([]),
      MLZERO_K8S_GPU_NODE_SELECTOR: labels().default({}),
      MLZERO_K8S_GPU_TOLERATIONS: tolerations().default([]),
      MLZERO_K8S_RUNTIME_CLASS: z.string().min(1).optional(),
      MLZERO_K8S_PRIORITY_CLASS: z.string().min(1).optional(),
      MLZERO_K8S_KUEUE_QUEUE: z.string().min(1).optional(),
      MLZERO_K8S_KUEUE_PRIORITY_CLASS: z.string().min(1).optional(),
      MLZERO_K8S_TTL_SECONDS: count().default(3600),
      MLZERO_K8S_SCRATCH_SIZE: bytes().default("2Gi"),
      MLZERO_K8S_RUN_AS_USER: count().default(65532),
      MLZERO_K8S_WORKSPACE_CLAIM: z.string().min(1).optional(),
      // A kubeconfig file; unset: the pod's in-cluster service account.
      KUBECONFIG: z.string().min(1).optional(),
    },
    env,
  );
  const missing = (
    config.MLZERO_EXECUTOR_RUNNER === "local" ? ["MLZERO_PYTHON"] : ["MLZERO_K8S_IMAGE", "MLZERO_K8S_WORKSPACE_CLAIM"]
  ).filter((name) => config[name as keyof typeof config] === undefined);
  if (missing.length > 0) {
    throw new ConfigError(`invalid configuration: the ${config.MLZERO_EXECUTOR_RUNNER} runner needs ${missing.join(" and ")}`);
  }
  return config;
}

/** The Job settings of the Kubernetes runner, from a loaded config. */
export function jobSettingsOf(config: ReturnType<typeof loadExecutorConfig>): JobSettings {
  return {
    namespace: config.MLZERO_K8S_NAMESPACE,
    image: config.MLZERO_K8S_IMAGE!,
    gpuImage: config.MLZERO_K8S_GPU_IMAGE,
    imagePullPolicy: config.MLZERO_K8S_IMAGE_PULL_POLICY,
    cpuRequest: config.MLZERO_K8S_CPU_REQUEST,
    cpuLimit: config.MLZERO_K8S_CPU_LIMIT,
    gpuResource: config.MLZERO_K8S_GPU_RESOURCE,
    nodeSelector: config.MLZERO_K8S_NODE_SELECTOR,
    tolerations: config.MLZERO_K8S_TOLERATIONS,
    gpuNodeSelector: config.MLZERO_K8S_GPU_NODE_SELECTOR,
    gpuTolerations: config.MLZERO_K8S_GPU_TOLERATIONS,
    runtimeClassName: config.MLZERO_K8S_RUNTIME_CLASS,
    priorityClassName: config.MLZERO_K8S_PRIORITY_CLASS,
    kueueQueue: config.MLZERO_K8S_KUEUE_QUEUE,
    kueuePriorityClass: config.MLZERO_K8S_KUEUE_PRIORITY_CLASS,
    ttlSecondsAfterFinished: config.MLZERO_K8S_TTL_SECONDS,
    scratchSizeLimit: config.MLZERO_K8S_SCRATCH_SIZE,
    runAsUser: config.MLZERO_K8S_RUN_AS_USER,
    workspaceClaim: config.MLZERO_K8S_WORKSPACE_CLAIM!,
    workspaceRoot: config.MLZERO_WORKSPACE_ROOT,
  };
}
