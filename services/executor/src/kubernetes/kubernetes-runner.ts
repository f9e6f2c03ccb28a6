import { randomUUID } from "node:crypto";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  ApiException,
  BatchV1Api,
  CoreV1Api,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  KubeConfig,
  type V1Job,
  type V1Pod,
} from "@kubernetes/client-node";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { FailedPreconditionError, describeError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import { ITERATION_FILES, OUTPUTS_DIR } from "@mlzero/program";
import { ExecutionResultSchema, PlatformFailure, type ExecutionResult } from "@mlzero/proto";
import { iterationName } from "@mlzero/workspace";
import { listOutputFiles } from "../list-output-files.js";
import { LogTail } from "../log-tail.js";
import type { ProgramRunner, RunHandle, RunRequest } from "../program-runner.js";
import { createRunRecord, programSha256, readRunRecord, writeRunRecord, type RunRecord } from "../run-record.js";
import { RunSlots, type ReleaseSlot } from "../run-slots.js";
import { stageIteration } from "../stage-iteration.js";
import { jobOutcome, podWithLog, podsOf, type JobOutcome } from "./job-outcome.js";
import {
  JOB_ANNOTATIONS,
  OWNED_SELECTOR,
  PROGRAM_CONTAINER,
  RESULT_FINALIZER,
  buildJob,
  jobName,
  taskSelector,
  type JobSettings,
} from "./job-spec.js";
import { ListWatch } from "./list-watch.js";

/** Settings of the Kubernetes runner. */
export interface KubernetesRunnerOptions {
  /** A kubeconfig file; undefined: the pod's in-cluster service account. */
  kubeconfig?: string;
  job: JobSettings;
  logger: Logger;
  /** Programs this replica runs at once (default 0: no limit); more wait, recorded, for a free slot. */
  maxConcurrentRuns?: number;
  /** Used when a request's time limit is 0 (default 1 h). */
  defaultTimeLimitMs?: number;
  /** Used when a request's memory limit is 0 (default 8 GiB). */
  defaultMemoryLimitBytes?: number;
  /** How often a running program's log tail is read for `onProgress` (default 5 s). */
  progressIntervalMs?: number;
  /** Full relist of Jobs and pods this often, whatever the watches say (default 5 min). */
  resyncMs?: number;
  /** Lines kept in a log tail (default 50). */
  tailLines?: number;
}

/** The Kubernetes runner, with what tests and the service need beyond {@link ProgramRunner}. */
export interface KubernetesRunner extends ProgramRunner {
  /** Starts following Jobs and pods; resolves after the first list of each. */
  connect(): Promise<void>;
  /** Runs waiting for a free slot of this replica: the queue-depth gauge an autoscaler reads. */
  queueDepth(): number;
  /** Stops following, leaving every Job running and every record as it is (as a crash would). */
  close(): Promise<void>;
}

/** Annotation that says why the executor deleted a Job, for whichever replica follows it. */
const STOP_ANNOTATION = "mlzero.io/stop-reason";
/** The most of a program's log kept in stdout.log. */
const LOG_LIMIT_BYTES = 8 * 1024 * 1024;

/**
 * Runs each iteration's program as a Kubernetes Job (see job-spec.ts for the
 * Job), with the durable run record of the local runner in the iteration
 * folder on the shared workspace volume: it says which program ran, its
 * deadline, its result once known and whether that was reported, so a
 * restarted executor reports each run exactly once.
 *
 * The Job is the run: its name is derived from tenant, task and iteration,
 * so a second launch of the same iteration, by this executor after a restart
 * or by another replica, collides (409) and adopts the Job when its spec
 * hash agrees. How a run ended is read from the API server (Job conditions,
 * the pod's terminated container), never from files the program can write;
 * the Job carries a finalizer until the executor has recorded its result, so
 * neither its TTL nor anyone else's delete loses it. Jobs and their pods are
 * followed with list-then-watch (see list-watch.ts); the program's log is
 * read from its pod.
 *
 * Programs run as another user than the executor, and the iteration folder
 * is sticky (mode 1777), so a program can write its outputs but cannot
 * replace the executor's record beside them.
 */
export function createKubernetesRunner(options: KubernetesRunnerOptions): KubernetesRunner {
  const { job: settings, logger } = options;
  const kubeConfig = new KubeConfig();
  if (options.kubeconfig) kubeConfig.loadFromFile(options.kubeconfig);
  else kubeConfig.loadFromCluster();
  const namespace = settings.namespace;
  const batch = kubeConfig.makeApiClient(BatchV1Api);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const watch = new Watch(kubeConfig);
  const slots = new RunSlots(options.maxConcurrentRuns ?? 0);
  const tailLines = options.tailLines ?? 50;
  const runs = new Map<string, TrackedRun>();

  const jobs = new ListWatch<V1Job>({
    list: async () => {
      const list = await batch.listNamespacedJob({ namespace, labelSelector: OWNED_SELECTOR });
      return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? "" };
    },
    path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
    labelSelector: OWNED_SELECTOR,
    watch,
    logger,
    resyncMs: options.resyncMs,
    onChange: (job, deleted) => runs.get(job.metadata!.name!)?.jobChanged(deleted ? undefined : job),
  });
  const pods = new ListWatch<V1Pod>({
    list: async () => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: OWNED_SELECTOR });
      return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? "" };
    },
    path: `/api/v1/namespaces/${namespace}/pods`,
    labelSelector: OWNED_SELECTOR,
    watch,
    logger,
    resyncMs: options.resyncMs,
    onChange: (pod) => {
      const name = pod.metadata?.labels?.["batch.kubernetes.io/job-name"];
      if (name) runs.get(name)?.evaluate();
    },
  });

  /** One run this replica follows, launched here or adopted. */
  class TrackedRun {
    private record: RunRecord | undefined;
    private job: V1Job | undefined;
    private jobSeen = false;
    private finishing: Promise<void> | undefined;
    private settle!: (result: ExecutionResult) => void;
    private fail!: (error: unknown) => void;
    readonly result = new Promise<ExecutionResult>((resolve, reject) => {
      this.settle = resolve;
      this.fail = reject;
    });
    private markStarted!: () => void;
    readonly started = new Promise<void>((resolve) => (this.markStarted = resolve));
    private queued = false;
    private release: ReleaseSlot | undefined;
    private progress: NodeJS.Timeout | undefined;
    private onProgress: RunRequest["onProgress"];

    constructor(
      readonly dir: string,
      readonly name: string,
      readonly tenant: string,
      readonly taskId: string,
      readonly candidateId: string,
      readonly sha: string,
    ) {
      this.result.catch(() => undefined);
      void this.result.finally(() => {
        clearInterval(this.progress);
        this.release?.();
        if (runs.get(this.name) === this) runs.delete(this.name);
      });
    }

    isFor(candidateId: string, sha: string): boolean {
      return this.candidateId === candidateId && this.sha === sha;
    }

    handle(launched: boolean, request?: RunRequest): RunHandle {
      if (request?.onProgress) this.onProgress ??= request.onProgress;
      return {
        launched,
        reported: false,
        queued: this.queued,
        started: this.started,
        result: this.result,
        reportId: () => this.record?.reportId ?? "",
        startId: () => this.record?.launchId ?? "",
        markReported: () => this.markReported(),
      };
    }

    /** A handle on a run whose result is recorded already. */
    ended(record: RunRecord): RunHandle {
      this.record = record;
      this.markStarted();
      this.settle(fromBinary(ExecutionResultSchema, Buffer.from(record.result ?? "", "base64")));
      return { ...this.handle(false), reported: record.state === "reported" };
    }

    /** Claims the iteration with a new record; false when another executor recorded it first. */
    async claim(request: RunRequest): Promise<boolean> {
      const now = Date.now();
      const record: RunRecord = {
        version: 1,
        tenant: request.tenant,
        taskId: request.taskId,
        iteration: request.iteration,
        candidateId: this.candidateId,
        programSha256: this.sha,
        launchId: randomUUID(),
        state: "launching",
        launchedAtMs: now,
        deadlineAtMs: now + (request.timeLimitMs || (options.defaultTimeLimitMs ?? 3_600_000)),
        context: request.context ? Buffer.from(request.context).toString("base64") : undefined,
      };
      if (!(await createRunRecord(this.dir, record))) return false;
      this.record = record;
      return true;
    }

    /**
     * Follows the recorded run: its Job when it exists, otherwise (recorded
     * as launching, the executor died before the create went through)
     * creates it, given the request that has the program.
     */
    async follow(record: RunRecord, request: RunRequest | undefined): Promise<boolean> {
      this.record = record;
      const existing = await readJob(this.name);
      if (existing) {
        this.adoptJob(existing, request);
        return false;
      }
      if (record.state === "running") {
        // Recorded as created, and gone: deleted behind the finalizer's back.
        this.markStarted();
        await this.finish(undefined);
        return false;
      }
      if (!request)
        throw new FailedPreconditionError(`the run of ${this.name} was never created and there is no program to create it with`);
      return this.launch(request);
    }

    /** Creates the Job once a slot is free; true when this call created it. */
    async launch(request: RunRequest): Promise<boolean> {
      this.release = slots.tryTake();
      if (this.release) return this.create(request);
      this.queued = true;
      void slots
        .take()
        .then(async (release) => {
          this.release = release;
          // The time limit counts from the launch, not from the wait.
          const now = Date.now();
          const limit = this.record!.deadlineAtMs - this.record!.launchedAtMs;
          await this.write({ ...this.record!, launchedAtMs: now, deadlineAtMs: now + limit });
          await this.create(request);
        })
        .catch((error: unknown) => this.fail(error));
      return true;
    }

    private async create(request: RunRequest): Promise<boolean> {
      const record = this.record!;
      await stageIteration(request.workspace, request.iteration, request.program, record);
      // Sticky and open to the program's user: it can add files, not replace the executor's.
      await Promise.all([chmod(this.dir, 0o1777), chmodUnlessRestaged(path.join(this.dir, OUTPUTS_DIR), 0o1777)]);
      // Mounted read-only into the pod: made here, so the kubelet need not create it on the volume.
      await mkdir(request.workspace.derivedDir, { recursive: true });
      const job = buildJob(settings, {
        tenant: request.tenant,
        taskId: request.taskId,
        iteration: request.iteration,
        candidateId: this.candidateId,
        programSha256: this.sha,
        launcher: request.program.launcher,
        workspace: request.workspace,
        memoryLimitBytes: request.memoryLimitBytes || (options.defaultMemoryLimitBytes ?? 8 * 1024 ** 3),
        gpus: request.gpus,
        deadlineSeconds: (record.deadlineAtMs - record.launchedAtMs) / 1000,
      });
      let created = true;
      let current: V1Job;
      try {
        current = await batch.createNamespacedJob({ namespace, body: job });
      } catch (error) {
        if (statusOf(error) !== 409) throw error;
        created = false;
        current = (await readJob(this.name)) ?? job;
      }
      const want = job.metadata!.annotations![JOB_ANNOTATIONS.specHash];
      const found = current.metadata?.annotations?.[JOB_ANNOTATIONS.specHash];
      if (found !== want) {
        throw new FailedPreconditionError(`Job ${this.name} already exists with another spec (hash ${found}, expected ${want})`);
      }
      await this.write({ ...this.record!, state: "running", job: this.name });
      this.adoptJob(current, request);
      logger.info(
        { job: this.name, taskId: request.taskId, tenant: request.tenant, iteration: request.iteration, created },
        created ? "Job created" : "Job adopted",
      );
      return created;
    }

    private adoptJob(job: V1Job, request: RunRequest | undefined): void {
      if (request?.onProgress) this.onProgress ??= request.onProgress;
      this.release ??= slots.occupy();
      this.queued = false;
      this.markStarted();
      this.progress ??= setInterval(() => void this.reportProgress(), options.progressIntervalMs ?? 5_000);
      this.progress.unref();
      this.jobChanged(job);
    }

    /** The Job as last seen; undefined once it is gone. */
    jobChanged(job: V1Job | undefined): void {
      this.job = job;
      this.jobSeen = true;
      this.evaluate();
    }

    /** Finishes the run once it is over (its Job ended, was stopped or vanished). */
    evaluate(): void {
      if (!this.jobSeen || this.finishing) return;
      if (!this.job) {
        void this.finish(undefined);
        return;
      }
      const outcome = jobOutcome(this.job, podsOf(this.job, pods.current()));
      const stopReason = this.job.metadata?.annotations?.[STOP_ANNOTATION];
      if (outcome || stopReason || this.job.metadata?.deletionTimestamp) void this.finish(outcome);
    }

    /** Records the result, lets the Job go, and settles; once. */
    private finish(outcome: JobOutcome | undefined): Promise<void> {
      this.finishing ??= this.recordResult(outcome).then(
        (result) => this.settle(result),
        (error: unknown) => this.fail(error),
      );
      return this.finishing;
    }

    private async recordResult(outcome: JobOutcome | undefined): Promise<ExecutionResult> {
      const record = this.record!;
      const stopReason = this.job?.metadata?.annotations?.[STOP_ANNOTATION];
      const cancelled = !outcome && stopReason === "cancel";
      const { stdout, message } = await this.readLog();
      await writeFile(path.join(this.dir, ITERATION_FILES.stdout), stdout);
      await writeFile(path.join(this.dir, ITERATION_FILES.stderr), message);
      const tail = new LogTail(tailLines, 8 * 1024);
      tail.append(stdout);
      const endedAtMs = outcome?.endedAtMs || Date.now();
      const result = create(ExecutionResultSchema, {
        candidateId: record.candidateId,
        exitCode: outcome?.exitCode ?? -1,
        signal: outcome?.signal ?? (cancelled ? "SIGTERM" : ""),
        timedOut: outcome?.timedOut ?? false,
        cancelled,
        duration: durationFromMs(Math.max(0, endedAtMs - (outcome?.startedAtMs || record.launchedAtMs))),
        iterationDir: iterationName(record.iteration),
        stdoutTail: tail.tail(),
        stderrTail: message,
        outputFiles: await listOutputFiles(path.join(this.dir, OUTPUTS_DIR)),
        platformFailure: outcome?.platformFailure ?? PlatformFailure.UNSPECIFIED,
        platformMessage: outcome?.platformMessage ?? "",
        // Neither how it ended nor that it was cancelled is known: it vanished.
        interrupted: !outcome && !cancelled,
      });
      // Another replica that followed the same Job may have recorded it first: its result stands.
      const latest = await readRunRecord(this.dir);
      if (latest?.launchId === record.launchId && (latest.state === "finished" || latest.state === "reported") && latest.result) {
        this.record = latest;
        await this.letGo();
        return fromBinary(ExecutionResultSchema, Buffer.from(latest.result, "base64"));
      }
      await this.write({
        ...record,
        state: "finished",
        stopReason: cancelled ? "cancel" : result.timedOut ? "timeout" : undefined,
        result: Buffer.from(toBinary(ExecutionResultSchema, result)).toString("base64"),
        // The same for every replica that followed this Job: consumers drop a repeat.
        reportId: `${record.launchId}.finished`,
      });
      await this.letGo();
      if (outcome?.platformFailure === PlatformFailure.IMAGE_PULL) await deleteJob(this.name);
      return result;
    }

    /** The program's log from its pod; when it cannot be read, a line that says why. */
    private async readLog(): Promise<{ stdout: string; message: string }> {
      const pod = this.job ? podWithLog(podsOf(this.job, pods.current())) : undefined;
      if (!pod) return { stdout: "", message: "" };
      try {
        const text = await core.readNamespacedPodLog({
          name: pod.metadata!.name!,
          namespace,
          container: PROGRAM_CONTAINER,
          limitBytes: LOG_LIMIT_BYTES,
        });
        return { stdout: text, message: "" };
      } catch (error) {
        return {
          stdout: "",
          message: `mlzero: the program's log could not be read from pod ${pod.metadata!.name}: ${describeError(error)}\n`,
        };
      }
    }

    private async reportProgress(): Promise<void> {
      const pod = this.job ? podWithLog(podsOf(this.job, pods.current())) : undefined;
      if (!pod || !this.onProgress || this.finishing) return;
      try {
        const text = await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace, container: PROGRAM_CONTAINER, tailLines });
        const tail = new LogTail(tailLines, 8 * 1024);
        tail.append(text);
        this.onProgress({ elapsedMs: Date.now() - this.record!.launchedAtMs, logTail: tail.tail() });
      } catch (error) {
        logger.debug({ job: this.name, err: describeError(error) }, "log tail not read");
      }
    }

    /** Takes our finalizer off the Job: its result is recorded, the Job may go. */
    private async letGo(): Promise<void> {
      for (let attempt = 0; attempt < 5; attempt++) {
        const job = await readJob(this.name);
        const finalizers = job?.metadata?.finalizers ?? [];
        if (!job || !finalizers.includes(RESULT_FINALIZER)) return;
        try {
          await batch.patchNamespacedJob(
            {
              name: this.name,
              namespace,
              body: {
                metadata: {
                  resourceVersion: job.metadata!.resourceVersion,
                  finalizers: finalizers.filter((name) => name !== RESULT_FINALIZER),
                },
              },
            },
            setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
          );
          return;
        } catch (error) {
          // 409: the Job changed since we read it; read it again.
          if (statusOf(error) !== 409) throw error;
        }
      }
    }

    private async markReported(): Promise<void> {
      const latest = (await readRunRecord(this.dir)) ?? this.record!;
      if (latest.state !== "reported") await this.write({ ...latest, state: "reported" });
    }

    private async write(record: RunRecord): Promise<void> {
      this.record = record;
      await writeRunRecord(this.dir, record);
    }
  }

  async function readJob(name: string): Promise<V1Job | undefined> {
    try {
      return await batch.readNamespacedJob({ name, namespace });
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Deletes a Job and, before it goes (foreground propagation), its pods. */
  async function deleteJob(name: string): Promise<void> {
    try {
      await batch.deleteNamespacedJob({ name, namespace, propagationPolicy: "Foreground" });
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
  }

  function busy(request: RunRequest): FailedPreconditionError {
    return new FailedPreconditionError(`iteration ${request.iteration} of task ${request.taskId} already runs another program`);
  }

  async function start(request: RunRequest): Promise<RunHandle> {
    const dir = request.workspace.iterationDir(request.iteration);
    const name = jobName(request.tenant, request.taskId, request.iteration);
    const sha = programSha256(request.program);
    const followed = runs.get(name);
    if (followed) {
      if (followed.isFor(request.program.candidateId, sha)) return followed.handle(false, request);
      throw busy(request);
    }
    // Registered before the first await, so a second start in this process finds it.
    const run = new TrackedRun(dir, name, request.tenant, request.taskId, request.program.candidateId, sha);
    runs.set(name, run);
    try {
      await mkdir(dir, { recursive: true });
      for (let claims = 0; claims < 3; claims++) {
        const record = await readRunRecord(dir);
        if (record && (record.candidateId !== request.program.candidateId || record.programSha256 !== sha)) throw busy(request);
        if (record?.state === "finished" || record?.state === "reported") return run.ended(record);
        if (record) return run.handle(await run.follow(record, request), request);
        if (await run.claim(request)) return run.handle(await run.launch(request), request);
        // Another executor claimed the iteration between our read and our claim: look again.
      }
      throw busy(request);
    } catch (error) {
      if (runs.get(name) === run) runs.delete(name);
      throw error;
    }
  }

  return {
    start,

    async connect() {
      await Promise.all([jobs.start(), pods.start()]);
    },

    async adopt(iterationDir) {
      const dir = path.resolve(iterationDir);
      const record = await readRunRecord(dir);
      if (!record || record.state === "reported") return undefined;
      const name = jobName(record.tenant, record.taskId, record.iteration);
      const followed = runs.get(name);
      if (followed) return followed.handle(false);
      const run = new TrackedRun(dir, name, record.tenant, record.taskId, record.candidateId, record.programSha256);
      if (record.state === "finished") return run.ended(record);
      runs.set(name, run);
      try {
        await run.follow(record, undefined);
        return run.handle(false);
      } catch (error) {
        runs.delete(name);
        logger.warn({ job: name, err: describeError(error) }, "recorded run not adopted");
        return undefined;
      }
    },

    async run(request) {
      const handle = await start(request);
      const result = await handle.result;
      await handle.markReported();
      return result;
    },

    async cancel(tenant, taskId) {
      // Every Job of the task, whichever replica follows it: the annotation
      // tells that replica the run was cancelled, not lost.
      const list = await batch.listNamespacedJob({ namespace, labelSelector: taskSelector(tenant, taskId) });
      const owned = list.items.filter(
        (job) =>
          job.metadata?.annotations?.[JOB_ANNOTATIONS.tenant] === tenant && job.metadata?.annotations?.[JOB_ANNOTATIONS.task] === taskId,
      );
      await Promise.all(
        owned.map(async (job) => {
          const name = job.metadata!.name!;
          await batch
            .patchNamespacedJob(
              { name, namespace, body: { metadata: { annotations: { [STOP_ANNOTATION]: "cancel" } } } },
              setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
            )
            .catch((error: unknown) => {
              if (statusOf(error) !== 404) throw error;
            });
          await deleteJob(name);
        }),
      );
      return owned.length > 0;
    },

    queueDepth() {
      return slots.queued;
    },

    async close() {
      await Promise.all([jobs.stop(), pods.stop()]);
      runs.clear();
    },
  };
}

function statusOf(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/**
 * chmod, except when another executor staging the same iteration has just
 * removed the folder: it recreates the folder and sets the mode itself.
 */
async function chmodUnlessRestaged(folder: string, mode: number): Promise<void> {
  try {
    await chmod(folder, mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}
