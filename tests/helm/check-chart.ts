/**
 * `make chart-check` (part of `make lint`): `helm lint --strict` and a render
 * of the chart with its defaults and with every ci/ values file, then each
 * rendered object, and each manifest under k8s/, created with server-side dry
 * run and strict field validation on the test kube-apiserver (scripts/kube.sh),
 * which judges them against the real API schemas and admission. Kinds that
 * server does not serve (KEDA's ScaledObject, Kueue's objects: CRDs) are
 * checked by helm lint, the render and values.schema.json only, and listed.
 * Exits 1 on any failure, with helm's or the API server's message.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { startKubeApiServer } from "../support/kube-api-server.js";
import {
  createDryRunClient,
  JOBS_NAMESPACE,
  lintChart,
  MANIFESTS_DIR,
  parseManifests,
  RELEASE_NAMESPACE,
  renderChart,
  scenarios,
  type DryRunResult,
  type Manifest,
} from "./chart.js";

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const failures: string[] = [];

const rendered: { name: string; objects: Manifest[] }[] = [];
for (const scenario of scenarios()) {
  try {
    await lintChart(scenario.valuesFile);
    rendered.push({ name: scenario.name, objects: await renderChart(scenario.valuesFile) });
  } catch (error) {
    failures.push(`${scenario.name}: ${(error as Error).message}`);
  }
}
// The namespaces the dry runs need are created for real from k8s/namespace.yaml itself, the rest dry-run like the chart.
const manifests = readdirSync(MANIFESTS_DIR)
  .filter((name) => name.endsWith(".yaml"))
  .map((file) => ({ name: `k8s/${file}`, objects: parseManifests(readFileSync(path.join(MANIFESTS_DIR, file), "utf8")) }));
const namespaces = manifests.flatMap(({ objects }) => objects).filter((object) => object.kind === "Namespace");
console.log(`chart-check: helm lint and render of ${scenarios().length} values sets (${elapsed()})`);

const server = await startKubeApiServer();
try {
  const client = createDryRunClient(server.kubeconfig);
  for (const namespace of namespaces) await client.create(namespace);
  console.log(`chart-check: k8s/namespace.yaml: created ${namespaces.map((object) => object.metadata?.name).join(", ")}`);
  for (const namespace of [RELEASE_NAMESPACE, JOBS_NAMESPACE]) {
    if (!namespaces.some((object) => object.metadata?.name === namespace)) failures.push(`k8s/namespace.yaml: no Namespace ${namespace}`);
  }
  const rest = manifests.map((entry) => ({ ...entry, objects: entry.objects.filter((object) => object.kind !== "Namespace") }));
  for (const { name, objects } of [...rendered, ...rest].filter((entry) => entry.objects.length > 0)) {
    const results: DryRunResult[] = [];
    for (const object of objects) results.push(await client.dryRunCreate(object, RELEASE_NAMESPACE));
    const count = (outcome: DryRunResult["outcome"]) => results.filter((result) => result.outcome === outcome);
    const skipped = count("skipped").map((result) => result.object);
    console.log(
      `chart-check: ${name}: ${count("accepted").length} of ${objects.length} objects accepted by server-side dry run` +
        (skipped.length > 0 ? `; CRDs this server does not serve, not dry-run: ${skipped.join(", ")}` : ""),
    );
    for (const result of count("rejected")) failures.push(`${name}: ${result.object} rejected: ${result.message}`);
  }
} finally {
  await server.stop();
}

if (failures.length > 0) {
  for (const failure of failures) console.error(`chart-check: FAILED ${failure}`);
  process.exit(1);
}
console.log(`chart-check: ok (${elapsed()})`);
