import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { TaskService, TaskState } from "@mlzero/proto";
import { createClient } from "@mlzero/rpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PYTHON, SERVICE_NAMES, startKafkaCluster, type KafkaCluster } from "../support/cluster-harness.js";
import { generateChurnTask, type GeneratedTask } from "../support/generate-tasks.js";
import { startKubeApiServer, type KubeApiServer } from "../support/kube-api-server.js";
import { KubeNode } from "../support/kube-node.js";
import { readPredictions } from "../support/read-predictions.js";
import { iterationDir, submitTask, waitFinished, type TaskClient } from "../support/task-checks.js";

// A whole task through six service processes over Kafka, with the executor
// launching each program as a Job on a real API server, and the test in the
// Job controller's and kubelet's place running each Job's command as a
// local process (KubeNode.runJobs).

const NAMESPACE = "mlzero-jobs";
let api: KubeApiServer | undefined;
let node: KubeNode | undefined;
let stopKubelet: (() => Promise<void>) | undefined;
let kafka: KafkaCluster | undefined;
let tasks: TaskClient | undefined;
let dataRoot: string | undefined;
let data: GeneratedTask;

beforeAll(async () => {
  dataRoot = await mkdtemp(path.join(os.tmpdir(), "mlzero-k8s-data-"));
  data = await generateChurnTask(dataRoot, 7, 600);
  api = await startKubeApiServer();
  node = new KubeNode(api.kubeconfig);
  await node.register({ pkiDir: api.pkiDir, runtimeClasses: [], priorityClasses: [] });
  await node.createNamespace(NAMESPACE);
  kafka = await startKafkaCluster({
    env: {
      executor: {
        MLZERO_EXECUTOR_RUNNER: "kubernetes",
        KUBECONFIG: api.kubeconfig,
        MLZERO_K8S_NAMESPACE: NAMESPACE,
        MLZERO_K8S_IMAGE: "mlzero-runtime:test",
        MLZERO_K8S_WORKSPACE_CLAIM: "mlzero-workspace",
        MLZERO_K8S_CPU_LIMIT: "1",
      },
    },
  });
  stopKubelet = await node.runJobs(NAMESPACE, { binDir: path.dirname(PYTHON), scratchRoot: dataRoot });
  tasks = createClient(TaskService, kafka.cluster.address("gateway"));
}, 900_000);

afterAll(async () => {
  tasks?.close();
  await stopKubelet?.();
  await kafka?.close();
  await node?.close();
  await api?.stop();
  if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
});

describe("a task whose programs run as Kubernetes Jobs", () => {
  it("completes over Kafka with one Job per iteration, each run once, its log read from the pod", async () => {
    const { cluster } = kafka!;
    const taskId = await submitTask(tasks!, data.inputDir, { tool: "lightgbm", timeLimitSeconds: 300 });
    const task = await waitFinished(tasks!, taskId, 120_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${cluster.report()}`);
    });
    expect(task.state, cluster.report()).toBe(TaskState.SUCCEEDED);
    const predictions = path.join(task.outputDir, task.predictionsFile);
    expect(existsSync(predictions), predictions).toBe(true);
    const byId = await readPredictions(predictions, data.idColumn, data.labelColumn);
    expect(new Set(byId.keys())).toEqual(new Set(data.answers.keys()));

    // One Job per iteration, each with the one pod that ran it.
    const jobs = await node!.jobs(NAMESPACE);
    expect(jobs.map((job) => job.metadata?.annotations?.["mlzero.io/iteration"]).sort()).toEqual(
      task.iterations.map((item) => String(item.iteration)),
    );
    for (const job of jobs) {
      expect(job.metadata?.annotations?.["mlzero.io/task"]).toBe(taskId);
      expect(job.metadata?.finalizers ?? [], "the result is recorded: the Job may go").toEqual([]);
    }
    const pods = await node!.core.listNamespacedPod({ namespace: NAMESPACE });
    expect(pods.items).toHaveLength(jobs.length);
    // stdout.log is what the executor read from the pod through the API server.
    const log = await readFile(path.join(iterationDir(cluster.workspaceRoot, taskId, 1), "stdout.log"), "utf8");
    expect(log).toMatch(/MLZERO_RESULT/);
    for (const name of SERVICE_NAMES) expect(cluster.errorLines(name), name).toEqual([]);
  }, 180_000);
});
