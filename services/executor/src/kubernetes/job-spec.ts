import { createHash } from "node:crypto";
import path from "node:path";
import type { V1Job, V1Toleration } from "@kubernetes/client-node";
import type { TaskWorkspace } from "@mlzero/workspace";
import { programEnv } from "../sandbox-env.js";
import { DEFAULT_LAUNCHER } from "../stage-iteration.js";

/** Where and how program Jobs run: the Kubernetes runner's settings. */
export interface JobSettings {
  namespace: string;
  /** Program runtime image for CPU runs (runtime/Dockerfile). */
  image: string;
  /** Image for runs that ask for GPUs; unset, the one image (runtime/Dockerfile) serves both. */
  gpuImage?: string;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /** CPU request and limit of the program's container, Kubernetes quantities (e.g. "1", "500m"). */
  cpuRequest: string;
  cpuLimit: string;
  /** Extended resource that counts GPUs. */
  gpuResource: string;
  nodeSelector: Record<string, string>;
  tolerations: V1Toleration[];
  /** Added to the above for runs that ask for GPUs (the GPU pool's labels and taints). */
  gpuNodeSelector: Record<string, string>;
  gpuTolerations: V1Toleration[];
  runtimeClassName?: string;
  priorityClassName?: string;
  /** Kueue LocalQueue: the Job is labelled for it and Kueue decides when it starts. */
  kueueQueue?: string;
  /** Kueue WorkloadPriorityClass: the Jobs' order in Kueue's queues, apart from the pods' priorityClassName. */
  kueuePriorityClass?: string;
  ttlSecondsAfterFinished: number;
  /** Size limit of the scratch emptyDir (HOME and TMPDIR), a quantity. */
  scratchSizeLimit: string;
  /** The user and group programs run as: not the executor's, so a program cannot rewrite the executor's files. */
  runAsUser: number;
  /** PersistentVolumeClaim of the shared workspace (ReadWriteMany), mounted by the executor at the workspace root. */
  workspaceClaim: string;
  /** The executor's workspace root: the pod mounts the claim's folders at the same paths, so every path agrees. */
  workspaceRoot: string;
}

/** One iteration's run, as the Job spec needs it. */
export interface JobRun {
  tenant: string;
  taskId: string;
  iteration: number;
  candidateId: string;
  programSha256: string;
  launcher: string;
  workspace: TaskWorkspace;
  memoryLimitBytes: number;
  gpus: number;
  /** The run's wall-clock limit: the Job's activeDeadlineSeconds. */
  deadlineSeconds: number;
}

/** Labels and annotations of program Jobs and their pods. */
export const JOB_LABELS = {
  managedBy: "app.kubernetes.io/managed-by",
  tenant: "mlzero.io/tenant",
  task: "mlzero.io/task",
  iteration: "mlzero.io/iteration",
  kueueQueue: "kueue.x-k8s.io/queue-name",
  kueuePriorityClass: "kueue.x-k8s.io/priority-class",
} as const;

export const JOB_ANNOTATIONS = {
  tenant: "mlzero.io/tenant",
  task: "mlzero.io/task",
  iteration: "mlzero.io/iteration",
  candidate: "mlzero.io/candidate",
  program: "mlzero.io/program-sha256",
  specHash: "mlzero.io/spec-hash",
} as const;

/** Value of the managed-by label: the Jobs this executor owns. */
export const MANAGER = "mlzero-executor";

/** Holds a finished Job (and so its status) until the executor has recorded its result. */
export const RESULT_FINALIZER = "mlzero.io/result";

/** The program's container in the pod. */
export const PROGRAM_CONTAINER = "program";

const SCRATCH_MOUNT = "/scratch";

/**
 * The Job's name: a hash of tenant, task and iteration, so every executor
 * derives the same one and a second create of the iteration collides (409)
 * instead of running the program again. A DNS label of 63 characters at most.
 */
export function jobName(tenant: string, taskId: string, iteration: number): string {
  const digest = createHash("sha256").update(`${tenant}\0${taskId}\0${iteration}`).digest("hex");
  return `mlzero-${digest.slice(0, 40)}-${iteration}`.slice(0, 63);
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * An id as a label value: itself when it is one (63 characters at most, the
 * label alphabet), otherwise a hash of it. Selectors use the same function;
 * the annotations keep the exact ids.
 */
export function labelValue(id: string): string {
  return id.length <= 63 && LABEL_VALUE.test(id) ? id : `h-${createHash("sha256").update(id).digest("hex").slice(0, 40)}`;
}

/** Label selector of every Job of a task. */
export function taskSelector(tenant: string, taskId: string): string {
  return `${JOB_LABELS.managedBy}=${MANAGER},${JOB_LABELS.tenant}=${labelValue(tenant)},${JOB_LABELS.task}=${labelValue(taskId)}`;
}

/** Label selector of every Job (and pod) this executor owns. */
export const OWNED_SELECTOR = `${JOB_LABELS.managedBy}=${MANAGER}`;

/**
 * The Job that runs one iteration's program, to the restricted Pod Security
 * Standard: a non-root user, no privilege escalation, every capability
 * dropped, the runtime's seccomp profile, a read-only root filesystem with a
 * size-limited scratch emptyDir, no service-account token, no service links,
 * and no secret of any kind: only the task's input and the tables perception
 * derived from it (read-only) and the iteration's own folder (writable) from
 * the shared workspace.
 *
 * A failure of the program's own fails the Job at once (podFailurePolicy
 * FailJob on the container's exit), while a disruption (preemption, eviction,
 * node drain) is ignored and the pod replaced once it is gone, not counted
 * against backoffLimit 0.
 */
export function buildJob(settings: JobSettings, run: JobRun): V1Job {
  const name = jobName(run.tenant, run.taskId, run.iteration);
  const gpu = run.gpus > 0;
  const labels: Record<string, string> = {
    [JOB_LABELS.managedBy]: MANAGER,
    [JOB_LABELS.tenant]: labelValue(run.tenant),
    [JOB_LABELS.task]: labelValue(run.taskId),
    [JOB_LABELS.iteration]: String(run.iteration),
  };
  const iterationDir = run.workspace.iterationDir(run.iteration);
  const relative = (dir: string) => path.relative(path.resolve(settings.workspaceRoot), dir);
  const limits: Record<string, string> = { cpu: settings.cpuLimit, memory: String(run.memoryLimitBytes) };
  if (gpu) limits[settings.gpuResource] = String(run.gpus);
  const job: V1Job = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name,
      namespace: settings.namespace,
      labels: { ...labels, ...kueueLabels(settings) },
      annotations: {
        [JOB_ANNOTATIONS.tenant]: run.tenant,
        [JOB_ANNOTATIONS.task]: run.taskId,
        [JOB_ANNOTATIONS.iteration]: String(run.iteration),
        [JOB_ANNOTATIONS.candidate]: run.candidateId,
        [JOB_ANNOTATIONS.program]: run.programSha256,
      },
      finalizers: [RESULT_FINALIZER],
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: Math.max(1, Math.ceil(run.deadlineSeconds)),
      ttlSecondsAfterFinished: settings.ttlSecondsAfterFinished,
      podReplacementPolicy: "Failed",
      podFailurePolicy: {
        rules: [
          { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
          { action: "FailJob", onExitCodes: { containerName: PROGRAM_CONTAINER, operator: "NotIn", values: [0] } },
        ],
      },
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          runtimeClassName: settings.runtimeClassName,
          priorityClassName: settings.priorityClassName,
          nodeSelector: nonEmpty({ ...settings.nodeSelector, ...(gpu ? settings.gpuNodeSelector : {}) }),
          tolerations: nonEmpty([...settings.tolerations, ...(gpu ? settings.gpuTolerations : [])]),
          securityContext: {
            runAsNonRoot: true,
            runAsUser: settings.runAsUser,
            runAsGroup: settings.runAsUser,
            fsGroup: settings.runAsUser,
            seccompProfile: { type: "RuntimeDefault" },
          },
          containers: [
            {
              name: PROGRAM_CONTAINER,
              image: gpu ? (settings.gpuImage ?? settings.image) : settings.image,
              imagePullPolicy: settings.imagePullPolicy,
              command: ["/bin/sh", "-c", run.launcher.trim() || DEFAULT_LAUNCHER],
              workingDir: iterationDir,
              env: Object.entries(programEnv(SCRATCH_MOUNT, cpuCores(settings.cpuLimit))).map(([key, value]) => ({ name: key, value })),
              resources: { requests: { cpu: settings.cpuRequest, memory: String(run.memoryLimitBytes) }, limits },
              securityContext: {
                allowPrivilegeEscalation: false,
                privileged: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ["ALL"] },
                seccompProfile: { type: "RuntimeDefault" },
              },
              volumeMounts: [
                { name: "workspace", mountPath: run.workspace.inputDir, subPath: relative(run.workspace.inputDir), readOnly: true },
                { name: "workspace", mountPath: run.workspace.derivedDir, subPath: relative(run.workspace.derivedDir), readOnly: true },
                { name: "workspace", mountPath: iterationDir, subPath: relative(iterationDir) },
                { name: "scratch", mountPath: SCRATCH_MOUNT },
              ],
            },
          ],
          volumes: [
            { name: "workspace", persistentVolumeClaim: { claimName: settings.workspaceClaim } },
            { name: "scratch", emptyDir: { sizeLimit: settings.scratchSizeLimit } },
          ],
        },
      },
    },
  };
  job.metadata!.annotations![JOB_ANNOTATIONS.specHash] = specHash(job);
  return job;
}

/**
 * Hash of what the Job runs and how (its spec, labels and the program's
 * hash): an existing Job with the same name is adopted only when it agrees.
 */
export function specHash(job: V1Job): string {
  const { [JOB_ANNOTATIONS.specHash]: _, ...annotations } = job.metadata?.annotations ?? {};
  return createHash("sha256")
    .update(canonicalJson({ labels: job.metadata?.labels, annotations, spec: job.spec }))
    .digest("hex")
    .slice(0, 32);
}

/** JSON with object keys sorted and undefined members left out: the same value always gives the same text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** Cores of a CPU quantity ("2", "1.5", "500m"). */
export function cpuCores(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(m?)$/.exec(quantity.trim());
  if (!match) throw new Error(`not a CPU quantity: ${quantity}`);
  return Number(match[1]) / (match[2] ? 1000 : 1);
}

/** The Kueue labels a Job carries, for the settings that name them. */
function kueueLabels(settings: JobSettings): Record<string, string> {
  const labels: Record<string, string> = {};
  if (settings.kueueQueue) labels[JOB_LABELS.kueueQueue] = settings.kueueQueue;
  if (settings.kueuePriorityClass) labels[JOB_LABELS.kueuePriorityClass] = settings.kueuePriorityClass;
  return labels;
}

function nonEmpty<T extends object>(value: T): T | undefined {
  return Object.keys(value).length > 0 ? value : undefined;
}
