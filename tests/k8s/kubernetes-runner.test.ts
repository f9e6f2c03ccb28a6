import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { V1Job } from "@kubernetes/client-node";
import { FailedPreconditionError } from "@mlzero/errors";
import { createSilentLogger } from "@mlzero/logging";
import {
  BudgetSchema,
  CodeGeneratedSchema,
  FailureCategory,
  PlatformFailure,
  ProgramSchema,
  TaskContextSchema,
  TaskSpecSchema,
  type CodeGenerated,
  type ExecutionFinished,
  type ExecutionResult,
  type ExecutionStarted,
} from "@mlzero/proto";
import { createInProcessBus, newEnvelope, type InProcessBus } from "@mlzero/bus";
import { classifyFailure } from "@mlzero/analyzer";
import {
  JOB_ANNOTATIONS,
  RESULT_FINALIZER,
  createExecutorModule,
  createKubernetesRunner,
  jobName,
  readRunRecord,
  type JobSettings,
  type ExecutorModule,
  type KubernetesRunner,
  type RunRequest,
} from "@mlzero/executor";
import { taskWorkspace } from "@mlzero/workspace";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startKubeApiServer, type KubeApiServer } from "../support/kube-api-server.js";
import { KubeNode } from "../support/kube-node.js";
import { startTcpGate } from "../support/tcp-gate.js";

// The Kubernetes runner against a real kube-apiserver (and etcd), with the
// test in the kubelet's and the Job controller's place (see KubeNode).

const logger = createSilentLogger();
let server: KubeApiServer;
let node: KubeNode;
let namespace: string;
let root: string;
const runners: KubernetesRunner[] = [];
let namespaces = 0;

beforeAll(async () => {
  server = await startKubeApiServer();
  node = new KubeNode(server.kubeconfig);
  // What a cluster set up for mlzero has: admission checks a pod's references to them.
  await node.register({ pkiDir: server.pkiDir, runtimeClasses: ["gvisor"], priorityClasses: ["mlzero-batch"] });
}, 900_000);

afterAll(async () => {
  await node?.close();
  await server?.stop();
});

beforeEach(async () => {
  namespace = `jobs-${++namespaces}`;
  await node.createNamespace(namespace);
  root = await mkdtemp(path.join(tmpdir(), "k8s-runner-"));
});

afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.close();
  await rm(root, { recursive: true, force: true });
});

function settings(overrides: Partial<JobSettings> = {}): JobSettings {
  return {
    namespace,
    image: "registry.example/mlzero-runtime:1.0",
    gpuImage: "registry.example/mlzero-runtime-cuda:1.0",
    cpuRequest: "1",
    cpuLimit: "2",
    gpuResource: "nvidia.com/gpu",
    nodeSelector: {},
    tolerations: [],
    gpuNodeSelector: {},
    gpuTolerations: [],
    ttlSecondsAfterFinished: 600,
    scratchSizeLimit: "1Gi",
    runAsUser: 65532,
    workspaceClaim: "mlzero-workspace",
    workspaceRoot: root,
    ...overrides,
  };
}

async function startRunner(overrides: Partial<JobSettings> = {}, extra: { maxConcurrentRuns?: number; kubeconfig?: string } = {}) {
  const runner = createKubernetesRunner({
    kubeconfig: extra.kubeconfig ?? server.kubeconfig,
    job: settings(overrides),
    logger,
    maxConcurrentRuns: extra.maxConcurrentRuns,
    progressIntervalMs: 100,
  });
  await runner.connect();
  runners.push(runner);
  return runner;
}

function request(overrides: Partial<RunRequest> = {}): RunRequest {
  const workspace = taskWorkspace(root, "acme", "task-1");
  return {
    taskId: "task-1",
    tenant: "acme",
    iteration: 1,
    program: create(ProgramSchema, {
      candidateId: "iter-001-lightgbm",
      tool: "lightgbm",
      code: "print('hi')\n",
      launcher: "python main.py",
    }),
    workspace,
    timeLimitMs: 600_000,
    memoryLimitBytes: 2 * 1024 ** 3,
    gpus: 0,
    ...overrides,
  };
}

async function until<T>(read: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value) return value;
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(50);
  }
}

/** Plays a program that writes its predictions and exits 0. */
async function succeed(job: V1Job, dir: string, whileRunning: () => Promise<void> = async () => {}): Promise<void> {
  const pod = await node.startPod(job);
  await node.setContainerState(pod, { running: { startedAt: new Date() } }, "Running");
  node.setLog(pod, "loading data\n");
  await whileRunning();
  node.setLog(pod, "loading data\nvalidation score: 0.91\n");
  await writeFile(path.join(dir, "outputs", "predictions.csv"), "id,label\n1,yes\n");
  await node.setContainerState(pod, { terminated: { exitCode: 0, reason: "Completed" } }, "Succeeded");
  await node.finishJob(job, { type: "Complete" });
}

describe("Kubernetes runner against a real API server", () => {
  it("creates one Job to the spec, field by field, that restricted Pod Security admits, and reports its completion", async () => {
    const runner = await startRunner({
      nodeSelector: { "mlzero.io/pool": "batch" },
      tolerations: [{ key: "batch", operator: "Exists", effect: "NoSchedule" }],
      gpuNodeSelector: { "nvidia.com/gpu.present": "true" },
      gpuTolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      runtimeClassName: "gvisor",
      priorityClassName: "mlzero-batch",
      kueueQueue: "mlzero-gpu",
      kueuePriorityClass: "mlzero-batch-low",
    });
    const progress: string[] = [];
    const run = request({ gpus: 1, timeLimitMs: 90_500, onProgress: (update) => progress.push(update.logTail) });
    const handle = await runner.start(run);
    expect(handle.launched).toBe(true);
    const name = jobName("acme", "task-1", 1);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(name.length).toBeLessThanOrEqual(63);

    const job = await node.job(namespace, name);
    const dir = run.workspace.iterationDir(1);
    expect(job.metadata?.labels).toEqual({
      "app.kubernetes.io/managed-by": "mlzero-executor",
      "mlzero.io/tenant": "acme",
      "mlzero.io/task": "task-1",
      "mlzero.io/iteration": "1",
      "kueue.x-k8s.io/queue-name": "mlzero-gpu",
      "kueue.x-k8s.io/priority-class": "mlzero-batch-low",
    });
    expect(job.metadata?.annotations).toMatchObject({
      [JOB_ANNOTATIONS.tenant]: "acme",
      [JOB_ANNOTATIONS.task]: "task-1",
      [JOB_ANNOTATIONS.iteration]: "1",
      [JOB_ANNOTATIONS.candidate]: "iter-001-lightgbm",
      [JOB_ANNOTATIONS.specHash]: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    expect(job.metadata?.finalizers).toEqual([RESULT_FINALIZER]);
    expect(job.metadata?.generateName).toBeUndefined();
    const spec = job.spec!;
    expect(spec.suspend).toBeFalsy(); // Kueue's admission webhook suspends it, not us
    expect(spec.backoffLimit).toBe(0);
    expect(spec.activeDeadlineSeconds).toBe(91);
    expect(spec.ttlSecondsAfterFinished).toBe(600);
    expect(spec.podReplacementPolicy).toBe("Failed");
    expect(spec.podFailurePolicy?.rules).toEqual([
      { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
      { action: "FailJob", onExitCodes: { containerName: "program", operator: "NotIn", values: [0] } },
    ]);
    const pod = spec.template.spec!;
    expect(pod.restartPolicy).toBe("Never");
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.enableServiceLinks).toBe(false);
    expect(pod.runtimeClassName).toBe("gvisor");
    expect(pod.priorityClassName).toBe("mlzero-batch");
    expect(pod.nodeSelector).toEqual({ "mlzero.io/pool": "batch", "nvidia.com/gpu.present": "true" });
    expect(pod.tolerations).toEqual([
      { key: "batch", operator: "Exists", effect: "NoSchedule" },
      { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
    ]);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } });
    const container = pod.containers[0]!;
    expect(container.image).toBe("registry.example/mlzero-runtime-cuda:1.0");
    expect(container.command).toEqual(["/bin/sh", "-c", "python main.py"]);
    expect(container.workingDir).toBe(dir);
    expect(container.resources).toEqual({
      requests: { cpu: "1", memory: String(2 * 1024 ** 3) },
      limits: { cpu: "2", memory: String(2 * 1024 ** 3), "nvidia.com/gpu": "1" },
    });
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container.volumeMounts).toEqual([
      { name: "workspace", mountPath: run.workspace.inputDir, subPath: "acme/task-1/input", readOnly: true },
      { name: "workspace", mountPath: run.workspace.derivedDir, subPath: "acme/task-1/derived", readOnly: true },
      { name: "workspace", mountPath: dir, subPath: "acme/task-1/iter-001" },
      { name: "scratch", mountPath: "/scratch" },
    ]);
    expect(pod.volumes).toEqual([
      { name: "workspace", persistentVolumeClaim: { claimName: "mlzero-workspace" } },
      { name: "scratch", emptyDir: { sizeLimit: "1Gi" } },
    ]);
    // No secret, token or key reaches the program: its environment is ours alone.
    expect(container.env?.map((variable) => variable.name).sort()).toEqual([
      "HOME",
      "LANG",
      "LC_ALL",
      "MKL_NUM_THREADS",
      "MLZERO_CPUS",
      "NUMEXPR_MAX_THREADS",
      "NUMEXPR_NUM_THREADS",
      "OMP_NUM_THREADS",
      "OPENBLAS_NUM_THREADS",
      "PYTHONDONTWRITEBYTECODE",
      "PYTHONUNBUFFERED",
      "TMPDIR",
    ]);
    expect(container.env?.some((variable) => variable.valueFrom)).toBe(false);
    expect(container.envFrom).toBeUndefined();

    // Pod Security is enforced here: a pod without our security context is refused.
    await expect(
      node.core.createNamespacedPod({ namespace, body: { metadata: { name: "bare" }, spec: { containers: [{ name: "c", image: "x" }] } } }),
    ).rejects.toThrow(/violates PodSecurity/);
    // The log tail, read from the pod while it runs, and the whole log once it ended.
    await succeed(job, dir, async () => void (await until(() => progress.includes("loading data"))));
    const result = await handle.result;
    expect(result).toMatchObject({
      exitCode: 0,
      timedOut: false,
      cancelled: false,
      interrupted: false,
      outputFiles: ["predictions.csv"],
      stdoutTail: "loading data\nvalidation score: 0.91",
      stderrTail: "",
    });
    expect(await readFile(path.join(dir, "stdout.log"), "utf8")).toBe("loading data\nvalidation score: 0.91\n");
    expect(result.iterationDir).toBe("iter-001");
    expect((await readRunRecord(dir))?.state).toBe("finished");
    // The result is recorded: the Job may go.
    expect((await node.job(namespace, name)).metadata?.finalizers ?? []).toEqual([]);
  });

  it("adopts the Job on a duplicate create: two replicas at once, then a restarted one, launch it once", async () => {
    const [first, second] = [await startRunner(), await startRunner()];
    const handles = await Promise.all([first.start(request()), second.start(request())]);
    expect(handles.map((handle) => handle.launched).sort()).toEqual([false, true]);
    const restarted = await startRunner();
    const third = await restarted.start(request());
    expect(third.launched).toBe(false);
    const jobs = await node.jobs(namespace);
    expect(jobs).toHaveLength(1);

    await succeed(jobs[0]!, request().workspace.iterationDir(1));
    const results = await Promise.all([...handles, third].map((handle) => handle.result));
    expect(results.map((result) => result.exitCode)).toEqual([0, 0, 0]);
    expect(new Set([...handles, third].map((handle) => handle.reportId())).size).toBe(1);
    expect((await node.job(namespace, jobs[0]!.metadata!.name!)).metadata?.uid).toBe(jobs[0]!.metadata?.uid);
  });

  it("goes on when the program's node is lost: the Job replaces the pod, and the run reports the replacement's outcome once", async () => {
    const runner = await startRunner();
    const handle = await runner.start(request());
    const dir = request().workspace.iterationDir(1);
    const job = await node.job(namespace, jobName("acme", "task-1", 1));
    const lost = await node.startPod(job);
    await node.setContainerState(lost, { running: { startedAt: new Date() } }, "Running");
    node.setLog(lost, "loading data\n");
    await node.losePod(lost);
    let settled = false;
    void handle.result.finally(() => (settled = true));
    // The Job's podFailurePolicy ignores the disruption: its controller starts a replacement, and the run is not over.
    await sleep(1_000);
    expect(settled).toBe(false);
    const replacement = await node.startPod(job, 2);
    await node.setContainerState(replacement, { running: { startedAt: new Date() } }, "Running");
    node.setLog(replacement, "loading data\nvalidation score: 0.88\n");
    await writeFile(path.join(dir, "outputs", "predictions.csv"), "id,label\n1,yes\n");
    await node.setContainerState(replacement, { terminated: { exitCode: 0, reason: "Completed" } }, "Succeeded");
    await node.finishJob(job, { type: "Complete" });

    const result = await handle.result;
    expect(result).toMatchObject({ exitCode: 0, interrupted: false, platformFailure: PlatformFailure.UNSPECIFIED });
    expect(result.stdoutTail).toContain("validation score: 0.88");
    expect(result.outputFiles).toEqual(["predictions.csv"]);
    expect(await node.jobs(namespace)).toHaveLength(1);
  });

  it("refuses to adopt a Job of the same name with another spec", async () => {
    const runner = await startRunner();
    const name = jobName("acme", "task-1", 1);
    await node.batch.createNamespacedJob({
      namespace,
      body: {
        metadata: { name, annotations: { [JOB_ANNOTATIONS.specHash]: "0".repeat(32) } },
        spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "other", image: "busybox" }] } } },
      },
    });
    const attempt = runner.start(request());
    await expect(attempt).rejects.toThrow(FailedPreconditionError);
    await expect(attempt).rejects.toThrow(/already exists with another spec/);
  });

  it.each(["while the Job runs", "after the Job ended"])(
    "an executor restarted %s reconciles the Job and reports it exactly once",
    async (when) => {
      const event = codeGenerated();
      const first = await startExecutor();
      await first.bus.publish("CodeGenerated", event);
      const name = jobName("acme", "task-1", 1);
      const job = await until(() => node.job(namespace, name).catch(() => undefined));
      await until(() => first.started.length > 0);
      await first.crash();

      const dir = request().workspace.iterationDir(1);
      if (when === "after the Job ended") await succeed(job, dir);
      const second = await startExecutor();
      await second.module.start();
      if (when === "while the Job runs") await succeed(job, dir);
      await until(() => second.finished.length > 0);
      expect(second.finished[0]!.result).toMatchObject({ exitCode: 0, outputFiles: ["predictions.csv"] });
      expect(second.finished[0]!.program?.candidateId).toBe("iter-001-lightgbm");
      await second.bus.whenIdle();
      await second.crash();

      // Reported, and recorded as such: a third executor, and a redelivery to it, report nothing more.
      const third = await startExecutor();
      await third.module.start();
      await third.bus.publish("CodeGenerated", event);
      await third.bus.whenIdle();
      await sleep(300);
      expect(third.finished).toHaveLength(0);
      expect(first.finished).toHaveLength(0);
      expect(second.finished).toHaveLength(1);
      expect((await readRunRecord(dir))?.state).toBe("reported");
      expect(await node.jobs(namespace)).toHaveLength(1);
    },
  );

  it("recovers when its watches drop: the completion that happened meanwhile still arrives", async () => {
    const gate = await startTcpGate(() => server.server.replace("https://", ""));
    try {
      const kubeconfig = path.join(root, "kubeconfig-through-gate");
      await writeFile(kubeconfig, (await readFile(server.kubeconfig, "utf8")).replace(server.server, `https://${gate.address}`));
      const runner = await startRunner({}, { kubeconfig });
      const handle = await runner.start(request());
      let settled = false;
      void handle.result.then(() => (settled = true));
      const job = await node.job(namespace, jobName("acme", "task-1", 1));

      gate.hold();
      gate.cut();
      await succeed(job, request().workspace.iterationDir(1));
      await sleep(1_000);
      expect(settled).toBe(false);
      gate.release();
      expect(await handle.result).toMatchObject({ exitCode: 0, outputFiles: ["predictions.csv"] });
    } finally {
      await gate.close();
    }
  });

  it("cancel deletes the task's Jobs with foreground propagation and reports the run cancelled", async () => {
    const runner = await startRunner();
    const handle = await runner.start(request());
    const name = jobName("acme", "task-1", 1);
    const pod = await node.startPod(await node.job(namespace, name));
    await node.setContainerState(pod, { running: { startedAt: new Date() } }, "Running");

    expect(await runner.cancel("acme", "task-1")).toBe(true);
    expect(await handle.result).toMatchObject({ cancelled: true, exitCode: -1, interrupted: false });
    // No garbage collector runs here: the Job waits, marked for deletion, until its pods are gone.
    const job = await node.job(namespace, name);
    expect(job.metadata?.deletionTimestamp).toBeDefined();
    expect(job.metadata?.finalizers).toEqual(["foregroundDeletion"]);
    expect((await readRunRecord(request().workspace.iterationDir(1)))?.stopReason).toBe("cancel");
    expect(await runner.cancel("acme", "task-2")).toBe(false);
  });

  it("reports a deadline, an OOMKill, an image that cannot be pulled and the program's own failure each as such", async () => {
    const runner = await startRunner();
    const started = await Promise.all([1, 2, 3, 4].map((iteration) => runner.start(request({ iteration }))));
    const jobOf = (iteration: number) => node.job(namespace, jobName("acme", "task-1", iteration));
    const failJob = async (
      iteration: number,
      terminated: { exitCode: number; reason: string } | undefined,
      reason: string,
      message: string,
    ) => {
      const job = await jobOf(iteration);
      const pod = await node.startPod(job);
      if (terminated) await node.setContainerState(pod, { terminated }, "Failed");
      await node.finishJob(job, { type: "Failed", reason, message });
    };
    await failJob(1, undefined, "DeadlineExceeded", "Job was active longer than specified deadline");
    await failJob(
      2,
      { exitCode: 137, reason: "OOMKilled" },
      "PodFailurePolicy",
      "Container program for pod x failed with exit code 137 matching FailJob rule at index 1",
    );
    const pulling = await node.startPod(await jobOf(3));
    await node.setContainerState(
      pulling,
      { waiting: { reason: "ImagePullBackOff", message: 'Back-off pulling image "registry.example/mlzero-runtime:1.0"' } },
      "Pending",
    );
    await failJob(
      4,
      { exitCode: 3, reason: "Error" },
      "PodFailurePolicy",
      "Container program for pod x failed with exit code 3 matching FailJob rule at index 1",
    );

    const [deadline, oom, imagePull, own] = (await Promise.all(started.map((handle) => handle.result))) as [
      ExecutionResult,
      ExecutionResult,
      ExecutionResult,
      ExecutionResult,
    ];
    expect(deadline).toMatchObject({ timedOut: true, platformFailure: PlatformFailure.DEADLINE_EXCEEDED });
    expect(oom).toMatchObject({ exitCode: 137, signal: "SIGKILL", platformFailure: PlatformFailure.OOM_KILLED });
    expect(imagePull).toMatchObject({
      platformFailure: PlatformFailure.IMAGE_PULL,
      platformMessage: expect.stringContaining("ImagePullBackOff"),
    });
    expect(own).toMatchObject({ exitCode: 3, timedOut: false, platformFailure: PlatformFailure.UNSPECIFIED });
    // A Job whose image never comes would wait until its deadline: it is deleted at once.
    expect((await jobOf(3)).metadata?.deletionTimestamp).toBeDefined();

    const category = (result: ExecutionResult) => FailureCategory[classifyFailure({ result, stderr: "", stdout: "" }).category];
    expect([deadline, oom, imagePull, own].map(category)).toEqual(["TIMEOUT", "OUT_OF_MEMORY", "PLATFORM", "RUNTIME_ERROR"]);
  });

  it("runs at most its limit at once; a queued run is recorded, counted in the queue depth, and launched when a slot frees", async () => {
    const runner = await startRunner({}, { maxConcurrentRuns: 1 });
    const first = await runner.start(request());
    const second = await runner.start(request({ iteration: 2 }));
    expect(second.queued).toBe(true);
    expect(runner.queueDepth()).toBe(1);
    expect((await readRunRecord(request().workspace.iterationDir(2)))?.state).toBe("launching");
    expect(await node.jobs(namespace)).toHaveLength(1);

    await succeed(await node.job(namespace, jobName("acme", "task-1", 1)), request().workspace.iterationDir(1));
    await first.result;
    await second.started;
    expect(runner.queueDepth()).toBe(0);
    expect(await node.jobs(namespace)).toHaveLength(2);
  });
});

interface ExecutorProcess {
  bus: InProcessBus;
  module: ExecutorModule;
  started: ExecutionStarted[];
  finished: ExecutionFinished[];
  /** Stops it as kill -9 would: its Jobs go on, nothing of it reports any more. */
  crash(): Promise<void>;
}

/** An executor "process": a bus, a Kubernetes runner and the executor module, on the shared workspace. */
async function startExecutor(): Promise<ExecutorProcess> {
  const bus = createInProcessBus({ logger, retryBackoffMs: 1 });
  const runner = await startRunner();
  const module = createExecutorModule({ bus, logger, workspaceRoot: root, runner, publishRetryMs: 1 });
  const started: ExecutionStarted[] = [];
  const finished: ExecutionFinished[] = [];
  await bus.subscribe(module.pipeline!);
  await bus.subscribe({
    group: "observer",
    handlers: {
      ExecutionStarted: async (event) => void started.push(event),
      ExecutionFinished: async (event) => void finished.push(event),
    },
  });
  return {
    bus,
    module,
    started,
    finished,
    async crash() {
      await runner.close();
      await bus.close();
    },
  };
}

function codeGenerated(): CodeGenerated {
  const run = request();
  return create(CodeGeneratedSchema, {
    envelope: newEnvelope({ taskId: run.taskId, tenant: run.tenant, iteration: run.iteration }),
    task: create(TaskContextSchema, {
      spec: create(TaskSpecSchema, {
        budget: create(BudgetSchema, { iterationTimeLimit: durationFromMs(600_000), memoryLimitBytes: 2n ** 31n }),
      }),
    }),
    program: run.program,
  });
}
