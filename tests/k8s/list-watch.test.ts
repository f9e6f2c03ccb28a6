import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, KubeConfig, Watch, type V1ConfigMap } from "@kubernetes/client-node";
import { ListWatch } from "@mlzero/executor";
import { createSilentLogger } from "@mlzero/logging";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKubeApiServer, type KubeApiServer } from "../support/kube-api-server.js";

let server: KubeApiServer;
let core: CoreV1Api;
let config: KubeConfig;
const namespace = "watched";

beforeAll(async () => {
  server = await startKubeApiServer();
  config = new KubeConfig();
  config.loadFromFile(server.kubeconfig);
  core = config.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
}, 900_000);

afterAll(async () => {
  await server?.stop();
});

async function until(test: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(20);
  }
}

describe("ListWatch against a real API server", () => {
  it("lists again when its watch answers 410 Gone, and then follows adds, changes and deletes", async () => {
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "early", labels: { app: "test" } } } });
    await server.compactEtcd();
    let lists = 0;
    const seen = new Map<string, string>();
    const watcher = new ListWatch<V1ConfigMap>({
      list: async () => {
        lists++;
        const list = await core.listNamespacedConfigMap({ namespace, labelSelector: "app=test" });
        // The first list claims a version etcd has compacted away: its watch answers 410 Gone.
        return { items: list.items, resourceVersion: lists === 1 ? "1" : list.metadata!.resourceVersion! };
      },
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      labelSelector: "app=test",
      watch: new Watch(config),
      logger: createSilentLogger(),
      onChange: (map, deleted) => {
        if (deleted) seen.delete(map.metadata!.name!);
        else seen.set(map.metadata!.name!, map.data?.value ?? "");
      },
    });
    await watcher.start();
    try {
      await until(() => lists >= 2);
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "a", labels: { app: "test" } }, data: { value: "1" } } });
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "other" }, data: { value: "x" } } });
      await until(() => seen.get("a") === "1");
      await core.replaceNamespacedConfigMap({
        name: "a",
        namespace,
        body: { metadata: { name: "a", labels: { app: "test" } }, data: { value: "2" } },
      });
      await until(() => seen.get("a") === "2");
      await core.deleteNamespacedConfigMap({ name: "a", namespace });
      await until(() => !seen.has("a"));
      expect([...seen.keys()]).toEqual(["early"]);
      expect(lists).toBe(2);
    } finally {
      await watcher.stop();
    }
  });
});
