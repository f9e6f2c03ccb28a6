import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { request, type RequestOptions } from "node:https";
import path from "node:path";
import { KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { loadAll } from "js-yaml";
import { REPO_ROOT } from "../support/run-cli.js";

/** The chart, its scenario values and the plain manifests beside it. */
export const CHART_DIR = path.join(REPO_ROOT, "helm", "mlzero");
export const MANIFESTS_DIR = path.join(REPO_ROOT, "k8s");
/** The namespaces every scenario is rendered for: the release's, and the one ci/ files run Jobs in. */
export const RELEASE_NAMESPACE = "mlzero";
export const JOBS_NAMESPACE = "mlzero-jobs";
export const RELEASE = "mlzero";

/** Every scenario: the chart's defaults alone, then each ci/ values file. */
export function scenarios(): { name: string; valuesFile?: string }[] {
  const files = readdirSync(path.join(CHART_DIR, "ci"))
    .filter((file) => file.endsWith(".yaml"))
    .sort();
  return [
    { name: "values.yaml (defaults)" },
    ...files.map((file) => ({ name: `ci/${file}`, valuesFile: path.join(CHART_DIR, "ci", file) })),
  ];
}

/** A rendered object, loosely typed: tests read its fields by path. */
export type Manifest = KubernetesObject & { spec?: any; data?: Record<string, string>; [field: string]: any };

/** Runs a command; rejects with its stderr (helm's own message) when it fails. */
function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    // A first call on a fresh machine builds helm (scripts/helm.sh): minutes.
    execFile(file, args, { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024, timeout: 900_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${path.basename(file)} ${args.join(" ")}: ${stderr.trim() || error.message}`, { cause: error }));
      else resolve(stdout);
    });
  });
}

let helmPath: Promise<string> | undefined;

/** The helm binary scripts/helm.sh installs (once, cached). */
export function helmBinary(): Promise<string> {
  helmPath ??= run(path.join(REPO_ROOT, "scripts", "helm.sh"), ["path"]).then((out) => out.trim());
  return helmPath;
}

/** Runs helm with these arguments; its stdout. */
export async function helm(args: string[]): Promise<string> {
  return run(await helmBinary(), args);
}

/** `helm lint --strict` of the chart with a scenario's values. */
export async function lintChart(valuesFile?: string): Promise<string> {
  return helm(["lint", "--strict", CHART_DIR, "--namespace", RELEASE_NAMESPACE, ...(valuesFile ? ["-f", valuesFile] : [])]);
}

/** `helm template` of the chart with a scenario's values (and `--set` pairs), as objects. */
export async function renderChart(valuesFile?: string, set: string[] = []): Promise<Manifest[]> {
  const args = ["template", RELEASE, CHART_DIR, "--namespace", RELEASE_NAMESPACE];
  if (valuesFile) args.push("-f", valuesFile);
  for (const pair of set) args.push("--set", pair);
  return parseManifests(await helm(args));
}

/**
 * The objects of a multi-document YAML text (empty documents dropped), as
 * written: client-node's loadAllYaml would map them onto its typed models,
 * renaming and dropping fields the API server must see.
 */
export function parseManifests(text: string): Manifest[] {
  return loadAll(text).filter((doc): doc is Manifest => Boolean(doc && typeof doc === "object"));
}

/** What the API server said about one object. */
export interface DryRunResult {
  object: string;
  /** accepted: valid against the server's schemas and admission; skipped: a kind it does not serve (a CRD). */
  outcome: "accepted" | "rejected" | "skipped";
  message?: string;
}

/** One object's name as kubectl prints it: Kind/namespace/name. */
export function describeObject(object: KubernetesObject): string {
  const namespace = object.metadata?.namespace;
  return `${object.kind}/${namespace ? `${namespace}/` : ""}${object.metadata?.name}`;
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

/**
 * Creates objects with server-side dry run (`dryRun=All`) and strict field
 * validation (`fieldValidation=Strict`: an unknown or duplicate field is an
 * error, not a warning), so the API server checks each against its own
 * schemas and admission without storing it. The request body is the object
 * as rendered: client-node's typed serializer would drop unknown fields
 * before the server could reject them, so this speaks HTTP itself.
 */
export function createDryRunClient(kubeconfigFile: string) {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigFile);
  const server = new URL(config.getCurrentCluster()!.server);
  const discovery = new Map<string, Promise<ApiResource[]>>();

  async function call(method: string, pathAndQuery: string, body?: unknown): Promise<{ status: number; body: any }> {
    const options: RequestOptions = {
      method,
      hostname: server.hostname,
      port: server.port,
      path: pathAndQuery,
      headers: { "content-type": "application/json", accept: "application/json" },
    };
    await config.applyToHTTPSOptions(options);
    return new Promise((resolve, reject) => {
      const req = request(options, (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () => {
          try {
            resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
          } catch {
            resolve({ status: response.statusCode ?? 0, body: { message: text } });
          }
        });
      });
      req.on("error", reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  const groupPath = (apiVersion: string) => (apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`);

  function resources(apiVersion: string): Promise<ApiResource[]> {
    let found = discovery.get(apiVersion);
    if (!found) {
      found = call("GET", groupPath(apiVersion)).then(({ status, body }) => (status === 200 ? (body.resources as ApiResource[]) : []));
      discovery.set(apiVersion, found);
    }
    return found;
  }

  return {
    /** Creates a cluster-scoped object for real, e.g. a Namespace the dry runs need (strict too). */
    async create(object: Manifest): Promise<void> {
      const resource = (await resources(object.apiVersion!)).find((entry) => entry.kind === object.kind && !entry.name.includes("/"));
      if (!resource || resource.namespaced) throw new Error(`${describeObject(object)}: not a cluster-scoped kind of this API server`);
      const { status, body } = await call("POST", `${groupPath(object.apiVersion!)}/${resource.name}?fieldValidation=Strict`, object);
      if (status !== 201 && status !== 409) throw new Error(`cannot create ${describeObject(object)}: ${body?.message ?? status}`);
    },

    /** Dry-runs the create of one object, in `defaultNamespace` unless it names its own. */
    async dryRunCreate(object: Manifest, defaultNamespace: string): Promise<DryRunResult> {
      const name = describeObject(object);
      const resource = (await resources(object.apiVersion!)).find((entry) => entry.kind === object.kind && !entry.name.includes("/"));
      if (!resource)
        return {
          object: name,
          outcome: "skipped",
          message: `${object.apiVersion} ${object.kind} is not served by this API server (a CRD)`,
        };
      const namespace = object.metadata?.namespace ?? defaultNamespace;
      const collection = resource.namespaced ? `/namespaces/${namespace}/${resource.name}` : `/${resource.name}`;
      const { status, body } = await call(
        "POST",
        `${groupPath(object.apiVersion!)}${collection}?dryRun=All&fieldValidation=Strict`,
        object,
      );
      return status >= 200 && status < 300
        ? { object: name, outcome: "accepted" }
        : { object: name, outcome: "rejected", message: body?.message ?? `HTTP ${status}` };
    },
  };
}
