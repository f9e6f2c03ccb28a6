import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKubeApiServer, type KubeApiServer } from "../support/kube-api-server.js";
import { REPO_ROOT } from "../support/run-cli.js";
import {
  CHART_DIR,
  createDryRunClient,
  JOBS_NAMESPACE,
  RELEASE,
  RELEASE_NAMESPACE,
  renderChart,
  scenarios,
  type Manifest,
} from "./chart.js";

const SERVICES = ["gateway", "perception", "memory", "coder", "executor", "analyzer"];
const ci = (file: string) => path.join(CHART_DIR, "ci", file);
const component = (object: Manifest) => object.metadata?.labels?.["app.kubernetes.io/component"] as string;
const ofKind = (objects: Manifest[], kind: string) => objects.filter((object) => object.kind === kind);
const named = (objects: Manifest[], kind: string, name: string) => ofKind(objects, kind).find((object) => object.metadata?.name === name)!;

/** Every non-test TypeScript source of the services and libs, to check the chart against what the code reads. */
function sources(): string {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) files.push(file);
    }
  };
  for (const group of ["libs", "services"]) {
    for (const name of readdirSync(path.join(REPO_ROOT, group))) walk(path.join(REPO_ROOT, group, name, "src"));
  }
  return files.map((file) => readFileSync(file, "utf8")).join("\n");
}

describe.each(scenarios())("the chart rendered with $name", ({ valuesFile }) => {
  let objects: Manifest[];
  let jobsNamespace: string;
  let tls: boolean;
  beforeAll(async () => {
    objects = await renderChart(valuesFile);
    const executorEnv = named(objects, "ConfigMap", `${RELEASE}-executor`).data!;
    jobsNamespace = executorEnv.MLZERO_K8S_NAMESPACE!;
    tls = Boolean(named(objects, "ConfigMap", `${RELEASE}-gateway`).data!.MLZERO_TLS_CERT);
  });

  it("runs every service as a non-root user, read-only, with no privilege, capability or unconfined syscall", () => {
    const deployments = ofKind(objects, "Deployment");
    expect(deployments.map(component).sort()).toEqual([...SERVICES].sort());
    for (const deployment of deployments) {
      const pod = deployment.spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(pod.automountServiceAccountToken).toBe(component(deployment) === "executor");
      for (const container of pod.containers) {
        expect(container.securityContext).toEqual({
          allowPrivilegeEscalation: false,
          privileged: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ["ALL"] },
          seccompProfile: { type: "RuntimeDefault" },
        });
      }
    }
  });

  it("probes each service with grpc.health.v1: on its gRPC port, or with TLS on its plaintext health-only port", () => {
    for (const deployment of ofKind(objects, "Deployment")) {
      const [container] = deployment.spec.template.spec.containers;
      const portNamed = (name: string) => container.ports.find((entry: { name: string }) => entry.name === name)?.containerPort;
      const settings = named(objects, "ConfigMap", deployment.metadata!.name!).data!;
      expect(settings.MLZERO_GRPC_PORT).toBe(String(portNamed("grpc")));
      expect(settings.MLZERO_GRPC_HEALTH_PORT).toBe(tls ? String(portNamed("health")) : undefined);
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        expect(container[probe].grpc).toEqual({ port: portNamed(tls ? "health" : "grpc") });
      }
    }
  });

  it("gives only the executor a role: Jobs and their pods in the Jobs namespace, nothing cluster-wide", () => {
    expect(ofKind(objects, "ClusterRole")).toEqual([]);
    expect(ofKind(objects, "ClusterRoleBinding")).toEqual([]);
    const [role, ...otherRoles] = ofKind(objects, "Role");
    const [binding, ...otherBindings] = ofKind(objects, "RoleBinding");
    expect([otherRoles, otherBindings]).toEqual([[], []]);
    expect(role!.metadata?.namespace).toBe(jobsNamespace);
    expect(role!.rules).toEqual([
      { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "get", "list", "watch", "patch", "delete"] },
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
      { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
    ]);
    expect(binding!.metadata?.namespace).toBe(jobsNamespace);
    expect(binding!.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role!.metadata?.name });
    expect(binding!.subjects).toEqual([{ kind: "ServiceAccount", name: `${RELEASE}-executor`, namespace: RELEASE_NAMESPACE }]);
    const mounted = ofKind(objects, "ServiceAccount").filter((account) => account.automountServiceAccountToken !== false);
    expect(mounted.map((account) => account.metadata?.name)).toEqual([`${RELEASE}-executor`]);
  });

  it("denies all ingress, then admits each service's callers only, and lets program pods out to DNS alone", () => {
    const policies = ofKind(objects, "NetworkPolicy");
    const denyAll = policies.filter((policy) => component(policy) === "deny-all");
    expect(denyAll.map((policy) => policy.metadata?.namespace ?? RELEASE_NAMESPACE).sort()).toEqual(
      [...new Set([RELEASE_NAMESPACE, jobsNamespace])].sort(),
    );
    for (const policy of denyAll) expect(policy.spec).toEqual({ podSelector: {}, policyTypes: ["Ingress"] });

    // The call graph, from the code: a service calls memory's gRPC API when its main.ts opens a MemoryService client.
    const memoryCallers = SERVICES.filter((name) =>
      /createClient\(MemoryService/.test(readFileSync(path.join(REPO_ROOT, "services", name, "src", "main.ts"), "utf8")),
    );
    expect(memoryCallers.sort()).toEqual(["analyzer", "coder", "perception"]);
    for (const name of SERVICES) {
      const policy = named(policies, "NetworkPolicy", `${RELEASE}-${name}`);
      expect(policy.spec.podSelector.matchLabels["app.kubernetes.io/component"]).toBe(name);
      const grpcRules = (policy.spec.ingress ?? []).filter((rule: any) => rule.ports.some((port: any) => port.port === "grpc"));
      if (name === "gateway") {
        expect(grpcRules).toHaveLength(1); // its clients are outside the release: gateway.allowFrom, or anyone
      } else if (name === "memory") {
        const from = grpcRules.flatMap((rule: any) =>
          rule.from.map((peer: any) => peer.podSelector.matchLabels["app.kubernetes.io/component"]),
        );
        expect(from.sort()).toEqual(memoryCallers);
      } else {
        expect(grpcRules).toEqual([]); // the pipeline reaches it through Kafka; nobody calls its API
      }
      for (const rule of policy.spec.ingress ?? []) expect(rule.ports.length).toBeGreaterThan(0);
    }

    const programs = named(policies, "NetworkPolicy", `${RELEASE}-programs`);
    expect(programs.metadata?.namespace).toBe(jobsNamespace);
    expect(programs.spec.podSelector).toEqual({ matchLabels: { "app.kubernetes.io/managed-by": "mlzero-executor" } });
    expect(programs.spec.policyTypes).toEqual(["Ingress", "Egress"]);
    expect(programs.spec.ingress).toBeUndefined();
    expect(programs.spec.egress).toHaveLength(1);
    expect(programs.spec.egress[0].ports).toEqual([
      { port: 53, protocol: "UDP" },
      { port: 53, protocol: "TCP" },
    ]);
  });

  it("covers every service with a disruption budget and its settings with a checksum", () => {
    const budgets = ofKind(objects, "PodDisruptionBudget").map(component);
    for (const name of SERVICES) expect(budgets).toContain(name);
    for (const deployment of ofKind(objects, "Deployment")) {
      expect(deployment.spec.template.metadata.annotations["checksum/config"]).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it("sets only variables some service reads", () => {
    const code = sources();
    const names = ofKind(objects, "ConfigMap").flatMap((map) => Object.keys(map.data ?? {}));
    const unread = [...new Set(names)].filter((name) => ![`"${name}"`, `${name}:`, `.${name}`].some((form) => code.includes(form)));
    expect(unread).toEqual([]);
  });
});

describe("the chart's values", () => {
  it("reject unknown keys at every level, and scaling beyond the topics' partitions", async () => {
    for (const key of ["nope", "gateway.nope", "defaults.nope", "executor.job.nope", "executor.job.kueue.nope", "kafka.storage.nope"]) {
      await expect(renderChart(undefined, [`${key}=1`]), key).rejects.toThrow(/additional properties|false schema/);
    }
    await expect(renderChart(undefined, ["coder.keda.minReplicas=0"])).rejects.toThrow(/minReplicas/);
    await expect(renderChart(undefined, ["executor.keda.enabled=true", "executor.keda.maxReplicas=9"])).rejects.toThrow(
      /executor: up to 9 replicas, but the topics have kafka.partitions 8/,
    );
    await expect(renderChart(undefined, ["perception.replicas=3", "kafka.partitions=2"])).rejects.toThrow(/perception: up to 3 replicas/);
    // Raised together, the topics follow: every service creates them with that many partitions.
    const scaled = await renderChart(undefined, ["executor.keda.enabled=true", "executor.keda.maxReplicas=12", "kafka.partitions=12"]);
    for (const map of ofKind(scaled, "ConfigMap").filter((object) => object.data?.MLZERO_BUS === "kafka")) {
      expect(map.data).toMatchObject({ MLZERO_KAFKA_PARTITIONS: "12", MLZERO_KAFKA_REPLICATION_FACTOR: "1" });
    }
  });

  it("map executor.job onto the executor's MLZERO_K8S_* settings, one for one", async () => {
    const objects = await renderChart(ci("gpu-kueue-values.yaml"));
    expect(named(objects, "ConfigMap", `${RELEASE}-executor`).data).toMatchObject({
      MLZERO_EXECUTOR_RUNNER: "kubernetes",
      MLZERO_EXECUTOR_CONCURRENCY: "8",
      MLZERO_K8S_NAMESPACE: JOBS_NAMESPACE,
      MLZERO_K8S_IMAGE: "registry.example.com/mlzero/runtime:0.1.0",
      MLZERO_K8S_CPU_REQUEST: "4",
      MLZERO_K8S_CPU_LIMIT: "8",
      MLZERO_K8S_GPU_RESOURCE: "nvidia.com/gpu",
      MLZERO_K8S_GPU_NODE_SELECTOR: '{"nvidia.com/gpu.present":"true"}',
      MLZERO_K8S_GPU_TOLERATIONS: '[{"effect":"NoSchedule","key":"nvidia.com/gpu","operator":"Exists"}]',
      MLZERO_K8S_KUEUE_QUEUE: "mlzero-gpu",
      MLZERO_K8S_KUEUE_PRIORITY_CLASS: "mlzero-batch",
      MLZERO_K8S_TTL_SECONDS: "3600",
      MLZERO_K8S_SCRATCH_SIZE: "20Gi",
      MLZERO_K8S_WORKSPACE_CLAIM: `${RELEASE}-workspace`,
    });
    // A Job's deadline and memory are its task's budget: the gateway's defaults.
    expect(named(objects, "ConfigMap", `${RELEASE}-gateway`).data).toMatchObject({
      MLZERO_DEFAULT_ITERATION_TIME_LIMIT_SECONDS: "3600",
      MLZERO_DEFAULT_MEMORY_LIMIT_BYTES: "34359738368",
    });
    const scaled = ofKind(objects, "ScaledObject");
    expect(scaled.map((object) => [component(object), object.spec.minReplicaCount, object.spec.triggers[0].metadata.topic])).toEqual([
      ["coder", 1, "mlzero.round-planned.v1"],
      ["executor", 2, "mlzero.code-generated.v1"],
    ]);
    expect(ofKind(objects, "HorizontalPodAutoscaler").map(component).sort()).toEqual(["analyzer", "perception"]);
  });

  it("map gateway.taskRetentionHours onto the gateway's MLZERO_GATEWAY_TASK_RETENTION_HOURS, left unset at 0 (forever)", async () => {
    const hours = async (set: string[]) =>
      named(await renderChart(undefined, set), "ConfigMap", `${RELEASE}-gateway`).data!.MLZERO_GATEWAY_TASK_RETENTION_HOURS;
    expect(await hours([])).toBeUndefined();
    expect(await hours(["gateway.taskRetentionHours=72"])).toBe("72");
    await expect(renderChart(undefined, ["gateway.taskRetentionHours=-1"])).rejects.toThrow(/taskRetentionHours/);
  });

  it("roll only the pods whose settings changed", async () => {
    const checksums = async (set: string[]) =>
      Object.fromEntries(
        ofKind(await renderChart(undefined, set), "Deployment").map((d) => [
          component(d),
          d.spec.template.metadata.annotations["checksum/config"],
        ]),
      );
    const [before, after] = [await checksums([]), await checksums(["executor.job.cpuLimit=4"])];
    expect(SERVICES.filter((name) => before[name] !== after[name])).toEqual(["executor"]);
  });

  it("keep the embedded memory store in a file on its own volume, and leave it out with Qdrant", async () => {
    const embedded = await renderChart();
    const memory = named(embedded, "Deployment", `${RELEASE}-memory`);
    expect(named(embedded, "ConfigMap", `${RELEASE}-memory`).data?.MLZERO_MEMORY_STORE_FILE).toBe("/var/lib/mlzero/memory/store.json");
    expect(memory.spec.strategy).toEqual({ type: "Recreate" });
    expect(memory.spec.template.spec.containers[0].volumeMounts).toContainEqual({
      name: "memory-store",
      mountPath: "/var/lib/mlzero/memory",
    });
    expect(memory.spec.template.spec.volumes).toContainEqual({
      name: "memory-store",
      persistentVolumeClaim: { claimName: `${RELEASE}-memory` },
    });
    expect(named(embedded, "PersistentVolumeClaim", `${RELEASE}-memory`).spec.accessModes).toEqual(["ReadWriteOnce"]);

    const shared = await renderChart(ci("cpu-trial-values.yaml"));
    expect(named(shared, "ConfigMap", `${RELEASE}-memory`).data).not.toHaveProperty("MLZERO_MEMORY_STORE_FILE");
    expect(ofKind(shared, "PersistentVolumeClaim").map((claim) => claim.metadata!.name)).not.toContain(`${RELEASE}-memory`);
  });

  it("refuse a workspace the Jobs namespace cannot share", async () => {
    await expect(renderChart(undefined, [`executor.job.namespace=${JOBS_NAMESPACE}`])).rejects.toThrow(
      /workspace.nfs, or workspace.existingClaim/,
    );
  });
});

describe("server-side dry run on a real kube-apiserver", () => {
  let server: KubeApiServer;
  beforeAll(async () => {
    server = await startKubeApiServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("accepts a rendered scenario and rejects an object with a field the API does not have, saying which", async () => {
    const client = createDryRunClient(server.kubeconfig);
    for (const name of [RELEASE_NAMESPACE, JOBS_NAMESPACE])
      await client.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
    const objects = await renderChart(ci("external-values.yaml"));
    const results = await Promise.all(objects.map((object) => client.dryRunCreate(object, RELEASE_NAMESPACE)));
    expect(results.filter((result) => result.outcome !== "accepted")).toEqual([]);

    const deployment = structuredClone(named(objects, "Deployment", `${RELEASE}-gateway`));
    deployment.spec.template.spec.containers[0].readinessProbe.grpcc = { port: 50051 };
    const rejected = await client.dryRunCreate(deployment, RELEASE_NAMESPACE);
    expect(rejected).toMatchObject({
      outcome: "rejected",
      message: expect.stringContaining('unknown field "spec.template.spec.containers[0].readinessProbe.grpcc"'),
    });
    // Dry run stores nothing: the same object is accepted again, not AlreadyExists.
    expect((await client.dryRunCreate(named(objects, "Deployment", `${RELEASE}-gateway`), RELEASE_NAMESPACE)).outcome).toBe("accepted");
  });
});
