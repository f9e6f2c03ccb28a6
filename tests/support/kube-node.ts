import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile } from "node:fs/promises";
import { constants } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { createServer, type Server } from "node:https";
import path from "node:path";
import {
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  NodeV1Api,
  SchedulingV1Api,
  type V1ContainerState,
  type V1Job,
  type V1Pod,
} from "@kubernetes/client-node";

/**
 * Plays the parts of a cluster that the test API server lacks (no kubelet,
 * no controller manager), the way envtest-based controller tests do: creates
 * a Job's pod from its template as the Job controller would (so admission,
 * Pod Security included, judges the template), moves the pod through its
 * container states as a kubelet would, and writes the Job's conditions.
 */
export class KubeNode {
  readonly batch: BatchV1Api;
  readonly core: CoreV1Api;
  private readonly config = new KubeConfig();
  private readonly logs = new Map<string, string>();
  private kubelet: Server | undefined;

  constructor(
    kubeconfig: string,
    readonly nodeName = "node-1",
  ) {
    this.config.loadFromFile(kubeconfig);
    this.batch = this.config.makeApiClient(BatchV1Api);
    this.core = this.config.makeApiClient(CoreV1Api);
  }

  /**
   * Registers this node, and the cluster-wide objects a pod spec may name.
   * The node serves its pods' logs as a kubelet does: the API server reaches
   * it at the address and port in its status, over TLS checked against the
   * CA in `pkiDir` (the API server's own certificate, for 127.0.0.1, serves).
   */
  async register(cluster: { pkiDir: string; runtimeClasses: string[]; priorityClasses: string[] }): Promise<void> {
    const [key, cert] = await Promise.all([
      readFile(path.join(cluster.pkiDir, "apiserver.key")),
      readFile(path.join(cluster.pkiDir, "apiserver.crt")),
    ]);
    this.kubelet = createServer({ key, cert }, (request, response) => {
      // /containerLogs/<namespace>/<pod>/<container>?tailLines=N
      const url = new URL(request.url ?? "/", "https://kubelet");
      const [, kind, , pod] = url.pathname.split("/");
      const log = kind === "containerLogs" && pod ? this.logs.get(pod) : undefined;
      if (log === undefined) {
        response.writeHead(404).end("no such container");
        return;
      }
      const tail = Number(url.searchParams.get("tailLines") ?? 0);
      response.writeHead(200, { "content-type": "text/plain" }).end(
        tail
          ? log
              .split(/(?<=\n)/)
              .slice(-tail)
              .join("")
          : log,
      );
    });
    await new Promise<void>((resolve) => this.kubelet!.listen(0, "127.0.0.1", resolve));
    const { port } = this.kubelet.address() as { port: number };
    const node = await this.core.createNode({ body: { metadata: { name: this.nodeName } } });
    node.status = {
      addresses: [{ type: "InternalIP", address: "127.0.0.1" }],
      daemonEndpoints: { kubeletEndpoint: { Port: port } },
      conditions: [{ type: "Ready", status: "True", lastHeartbeatTime: new Date(), lastTransitionTime: new Date() }],
    };
    await this.core.replaceNodeStatus({ name: this.nodeName, body: node });
    const runtimes = this.config.makeApiClient(NodeV1Api);
    for (const name of cluster.runtimeClasses) await runtimes.createRuntimeClass({ body: { metadata: { name }, handler: name } });
    const scheduling = this.config.makeApiClient(SchedulingV1Api);
    for (const name of cluster.priorityClasses) await scheduling.createPriorityClass({ body: { metadata: { name }, value: 1000 } });
  }

  /** A namespace to the restricted Pod Security Standard, with the default ServiceAccount the controllers would make. */
  async createNamespace(name: string): Promise<void> {
    await this.core.createNamespace({
      body: {
        metadata: {
          name,
          labels: { "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest" },
        },
      },
    });
    await this.core.createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: "default" } } });
  }

  /** What the program in a pod has printed so far, as the kubelet would serve it. */
  setLog(pod: V1Pod, text: string): void {
    this.logs.set(pod.metadata!.name!, text);
  }

  async close(): Promise<void> {
    if (!this.kubelet) return;
    // The API server keeps its connections to a kubelet open.
    this.kubelet.closeAllConnections();
    await new Promise<void>((resolve) => this.kubelet!.close(() => resolve()));
  }

  async job(namespace: string, name: string): Promise<V1Job> {
    return this.batch.readNamespacedJob({ namespace, name });
  }

  async jobs(namespace: string): Promise<V1Job[]> {
    return (await this.batch.listNamespacedJob({ namespace })).items;
  }

  /**
   * Creates the Job's pod from its template, scheduled to this node, as the
   * Job controller and scheduler would; `attempt` > 1 names a replacement.
   */
  async startPod(job: V1Job, attempt = 1): Promise<V1Pod> {
    const name = job.metadata!.name!;
    const template = job.spec!.template;
    const pod = await this.core.createNamespacedPod({
      namespace: job.metadata!.namespace!,
      body: {
        metadata: {
          name: attempt > 1 ? `${name}-pod-${attempt}` : `${name}-pod`,
          labels: { ...template.metadata?.labels, "batch.kubernetes.io/job-name": name, "job-name": name },
          ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name, uid: job.metadata!.uid!, controller: true }],
        },
        spec: { ...template.spec!, nodeName: this.nodeName },
      },
    });
    // The Job's start time is set once, by its first pod: a replacement leaves it.
    await this.setJobStatus(job, { ...(attempt === 1 && { startTime: new Date() }), active: 1, ready: 0, terminating: 0 });
    return pod;
  }

  /** Sets the program container's state, as the kubelet reports it. */
  async setContainerState(pod: V1Pod, state: V1ContainerState, phase: "Pending" | "Running" | "Succeeded" | "Failed"): Promise<void> {
    const current = await this.core.readNamespacedPod({ namespace: pod.metadata!.namespace!, name: pod.metadata!.name! });
    const container = current.spec!.containers[0]!;
    current.status = {
      phase,
      containerStatuses: [
        { name: container.name, image: container.image!, imageID: "", ready: Boolean(state.running), restartCount: 0, state },
      ],
    };
    await this.core.replaceNamespacedPodStatus({ namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, body: current });
  }

  /**
   * The pod's node is lost: the control plane marks the pod as disrupted
   * (DisruptionTarget, as the taint manager does when it evicts the pods of
   * an unreachable node) and failed, its program killed.
   */
  async losePod(pod: V1Pod): Promise<void> {
    const current = await this.core.readNamespacedPod({ namespace: pod.metadata!.namespace!, name: pod.metadata!.name! });
    const container = current.spec!.containers[0]!;
    const now = new Date();
    current.status = {
      phase: "Failed",
      conditions: [
        { type: "DisruptionTarget", status: "True", reason: "DeletionByTaintManager", lastTransitionTime: now },
        { type: "Ready", status: "False", lastTransitionTime: now },
      ],
      containerStatuses: [
        {
          name: container.name,
          image: container.image!,
          imageID: "",
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 137, reason: "Error", finishedAt: now } },
        },
      ],
    };
    await this.core.replaceNamespacedPodStatus({ namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, body: current });
  }

  /**
   * Runs every new Job of a namespace for real, as the Job controller and a
   * kubelet would together: its pod is created, its command runs as a local
   * process in its working directory with its environment (the scratch
   * emptyDir a fresh folder under `scratchRoot`, PATH the runtime's
   * `binDir`), its output becomes the pod's log, and its exit ends the pod
   * and the Job as the podFailurePolicy says. Resolves with a stop function.
   */
  async runJobs(namespace: string, options: { binDir: string; scratchRoot: string }): Promise<() => Promise<void>> {
    const seen = new Set<string>();
    const children = new Set<ChildProcess>();
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        for (const job of await this.jobs(namespace).catch(() => [])) {
          const name = job.metadata!.name!;
          if (seen.has(name) || job.metadata?.deletionTimestamp || job.status?.conditions?.length) continue;
          seen.add(name);
          void this.runJob(job, options, children).catch((error: unknown) => console.error(`could not run Job ${name}:`, error));
        }
        await sleep(100);
      }
    })();
    return async () => {
      stopped = true;
      await loop;
      for (const child of children) child.kill("SIGKILL");
    };
  }

  private async runJob(job: V1Job, options: { binDir: string; scratchRoot: string }, children: Set<ChildProcess>): Promise<void> {
    const pod = await this.startPod(job);
    const container = job.spec!.template.spec!.containers[0]!;
    const scratch = await mkdtemp(path.join(options.scratchRoot, "scratch-"));
    const mounts = new Map((container.volumeMounts ?? []).map((mount) => [mount.mountPath, mount]));
    const env = Object.fromEntries(
      (container.env ?? []).map((variable) => [
        variable.name,
        mounts.get(variable.value ?? "")?.name === "scratch" ? scratch : (variable.value ?? ""),
      ]),
    );
    await this.setContainerState(pod, { running: { startedAt: new Date() } }, "Running");
    const child = spawn(container.command![0]!, container.command!.slice(1), {
      cwd: container.workingDir,
      env: { ...env, PATH: `${options.binDir}:/usr/bin:/bin` },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    let log = "";
    const append = (chunk: Buffer) => {
      log += chunk.toString("utf8");
      this.setLog(pod, log);
    };
    child.stdout!.on("data", append);
    child.stderr!.on("data", append);
    const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
    children.delete(child);
    const exitCode = code ?? 128 + (signal ? constants.signals[signal] : 0);
    await this.setContainerState(
      pod,
      { terminated: { exitCode, reason: exitCode === 0 ? "Completed" : "Error" } },
      exitCode === 0 ? "Succeeded" : "Failed",
    );
    await this.finishJob(
      job,
      exitCode === 0
        ? { type: "Complete" }
        : {
            type: "Failed",
            reason: "PodFailurePolicy",
            message: `Container program for pod ${pod.metadata!.name} failed with exit code ${exitCode} matching FailJob rule at index 1`,
          },
    );
  }

  /** The Job controller's last word on a Job: Complete, or Failed with a reason. */
  async finishJob(job: V1Job, outcome: { type: "Complete" } | { type: "Failed"; reason: string; message: string }): Promise<void> {
    const now = new Date();
    const condition = (type: string, reason = "", message = "") => ({
      type,
      status: "True",
      reason: reason || undefined,
      message: message || undefined,
      lastProbeTime: now,
      lastTransitionTime: now,
    });
    if (outcome.type === "Complete") {
      await this.setJobStatus(job, {
        active: 0,
        ready: 0,
        terminating: 0,
        succeeded: 1,
        completionTime: now,
        conditions: [condition("SuccessCriteriaMet", "CompletionsReached"), condition("Complete", "CompletionsReached")],
      });
    } else {
      await this.setJobStatus(job, {
        active: 0,
        ready: 0,
        terminating: 0,
        failed: 1,
        conditions: [condition("FailureTarget", outcome.reason, outcome.message), condition("Failed", outcome.reason, outcome.message)],
      });
    }
  }

  private async setJobStatus(job: V1Job, status: NonNullable<V1Job["status"]>): Promise<void> {
    const current = await this.batch.readNamespacedJob({ namespace: job.metadata!.namespace!, name: job.metadata!.name! });
    current.status = { ...current.status, ...status };
    await this.batch.replaceNamespacedJobStatus({ namespace: job.metadata!.namespace!, name: job.metadata!.name!, body: current });
  }
}
