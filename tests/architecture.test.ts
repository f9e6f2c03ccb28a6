import { existsSync, readFileSync, readdirSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./support/run-cli.js";

// The layer boundaries of CONVENTIONS.md, checked on the source: domain code
// reaches infrastructure clients only through the adapters allowed below;
// libs never depend on services; services talk to each other over gRPC and
// the bus, never by importing one another; and each workspace package
// declares (package.json) and references (tsconfig.json) every @mlzero
// package it imports, so a clean `tsc -b` builds in the right order.

/**
 * Infrastructure clients and the only folders that may import them. A scope
 * written `@scope/*` covers every package in it. An adapter that arrives adds
 * its folder here (e.g. `kafkajs: ["libs/bus/src/kafka"]`).
 */
const ADAPTER_ONLY: Record<string, readonly string[]> = {
  "@grpc/*": ["libs/rpc/src"],
  "grpc-health-check": ["libs/rpc/src"],
  kafkajs: ["libs/bus-kafka/src"],
  openai: ["libs/llm/src"],
  "@kubernetes/client-node": ["services/executor/src/kubernetes"],
  "@qdrant/js-client-rest": ["libs/vectors-qdrant/src"],
  "prom-client": ["libs/telemetry/src"],
  "@opentelemetry/*": ["libs/telemetry/src"],
};

/** Generated code, outside the layer rules (it imports only @bufbuild). */
const GENERATED = ["libs/proto/src/gen"];

type Kind = "lib" | "service" | "cli" | "tests";

interface WorkspacePackage {
  name: string;
  /** Folder relative to the repo root, e.g. "libs/rpc". */
  dir: string;
  kind: Kind;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  /** tsconfig.json references, as folders relative to the repo root. */
  references: string[];
  files: SourceFile[];
}

interface SourceFile {
  /** Relative to the repo root. */
  path: string;
  isTest: boolean;
  imports: { specifier: string; line: number }[];
}

const BUILTINS = new Set(builtinModules);

function readJson(file: string): Record<string, unknown> {
  // tsconfig.json may hold comments; TypeScript's reader accepts them.
  const { config, error } = ts.readConfigFile(file, ts.sys.readFile);
  if (error) throw new Error(`${file}: ${ts.flattenDiagnosticMessageText(error.messageText, "\n")}`);
  return config as Record<string, unknown>;
}

function rel(absolute: string): string {
  return path.relative(REPO_ROOT, absolute).split(path.sep).join("/");
}

function isUnder(file: string, folder: string): boolean {
  return file === folder || file.startsWith(`${folder}/`);
}

/** `.ts` files under `dir`, skipping build output and dependencies. */
function tsFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "dist") continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...tsFiles(full));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) found.push(full);
  }
  return found;
}

function readSource(absolute: string): SourceFile {
  const text = readFileSync(absolute, "utf8");
  // The compiler's own pre-processor: static and dynamic imports, re-exports
  // and `import x = require(...)`, never confused by strings or comments.
  const { importedFiles } = ts.preProcessFile(text, true, true);
  const lineOf = (position: number) => text.slice(0, position).split("\n").length;
  return {
    path: rel(absolute),
    isTest: absolute.endsWith(".test.ts"),
    imports: importedFiles.map((imported) => ({ specifier: imported.fileName, line: lineOf(imported.pos) })),
  };
}

function workspacePackages(): WorkspacePackage[] {
  const root = readJson(path.join(REPO_ROOT, "package.json")) as { workspaces: string[] };
  const dirs = root.workspaces.flatMap((pattern) => {
    if (!pattern.endsWith("/*")) return [pattern];
    const parent = pattern.slice(0, -2);
    return readdirSync(path.join(REPO_ROOT, parent), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => `${parent}/${entry.name}`);
  });
  return dirs
    .filter((dir) => existsSync(path.join(REPO_ROOT, dir, "package.json")))
    .map((dir) => {
      const manifest = readJson(path.join(REPO_ROOT, dir, "package.json")) as {
        name: string;
        dependencies?: Record<string, string>;
        devDependencies?: Record<string, string>;
      };
      const tsconfigFile = path.join(REPO_ROOT, dir, "tsconfig.json");
      const tsconfig = existsSync(tsconfigFile) ? (readJson(tsconfigFile) as { references?: { path: string }[] }) : {};
      const kind: Kind = dir.startsWith("libs/") ? "lib" : dir.startsWith("services/") ? "service" : dir === "cli" ? "cli" : "tests";
      const sourceRoot = path.join(REPO_ROOT, dir, kind === "tests" ? "" : "src");
      return {
        name: manifest.name,
        dir,
        kind,
        dependencies: manifest.dependencies ?? {},
        devDependencies: manifest.devDependencies ?? {},
        references: (tsconfig.references ?? []).map((reference) => rel(path.resolve(REPO_ROOT, dir, reference.path))),
        files: existsSync(sourceRoot)
          ? tsFiles(sourceRoot)
              .map(readSource)
              .filter((file) => !GENERATED.some((folder) => isUnder(file.path, folder)))
          : [],
      };
    });
}

/** The package a bare specifier names: `@grpc/grpc-js/build/x` -> `@grpc/grpc-js`. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith(".") || specifier.startsWith("/")) return undefined;
  if (specifier.startsWith("node:") || BUILTINS.has(specifier.split("/")[0]!)) return undefined;
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

function adapterRule(name: string): readonly string[] | undefined {
  if (ADAPTER_ONLY[name]) return ADAPTER_ONLY[name];
  const scope = name.startsWith("@") ? `${name.split("/")[0]}/*` : undefined;
  return scope ? ADAPTER_ONLY[scope] : undefined;
}

const packages = workspacePackages();
const byName = new Map(packages.map((pkg) => [pkg.name, pkg]));
const serviceNames = new Set(packages.filter((pkg) => pkg.kind === "service").map((pkg) => pkg.name));
const cliName = packages.find((pkg) => pkg.kind === "cli")?.name;

/** Every import in a package's non-test source that breaks a layer rule. */
function layerViolations(): string[] {
  const problems: string[] = [];
  for (const pkg of packages) {
    if (pkg.kind === "tests") continue;
    for (const file of pkg.files) {
      if (file.isTest) continue;
      for (const { specifier, line } of file.imports) {
        const where = `${file.path}:${line} imports "${specifier}"`;
        const name = packageOf(specifier);
        if (name === undefined) continue;
        const allowed = adapterRule(name);
        if (allowed && !allowed.some((folder) => isUnder(file.path, folder))) {
          problems.push(
            `${where}: ${name} is for adapters only (${allowed.length ? `allowed in ${allowed.join(", ")}` : "no adapter yet"})`,
          );
        }
        if (pkg.kind === "lib" && (serviceNames.has(name) || name === cliName)) {
          problems.push(`${where}: a lib must not depend on ${name}`);
        }
        if (pkg.kind === "service" && serviceNames.has(name) && name !== pkg.name) {
          problems.push(`${where}: services reach each other over gRPC or the bus, not by import`);
        }
      }
    }
  }
  return problems;
}

/** Relative imports that leave their own package's folder (tests included). */
function boundaryCrossings(): string[] {
  const problems: string[] = [];
  for (const pkg of packages) {
    for (const file of pkg.files) {
      for (const { specifier, line } of file.imports) {
        if (!specifier.startsWith(".")) continue;
        const target = rel(path.resolve(REPO_ROOT, path.dirname(file.path), specifier));
        if (!isUnder(target, pkg.dir)) {
          problems.push(`${file.path}:${line} imports "${specifier}": reaches ${target} outside ${pkg.dir}; import its package instead`);
        }
      }
    }
  }
  return problems;
}

/** package.json and tsconfig.json against what each package's source imports. */
function manifestMismatches(): string[] {
  const problems: string[] = [];
  for (const pkg of packages) {
    const importedBy = new Map<string, SourceFile[]>();
    for (const file of pkg.files) {
      for (const { specifier } of file.imports) {
        const name = packageOf(specifier);
        if (!name?.startsWith("@mlzero/") || name === pkg.name) continue;
        importedBy.set(name, [...(importedBy.get(name) ?? []), file]);
      }
    }
    for (const [name, files] of importedBy) {
      const example = files[0]!.path;
      const target = byName.get(name);
      if (!target) {
        problems.push(`${example} imports ${name}, which is no workspace package`);
        continue;
      }
      // A test-only import may sit in devDependencies; source needs dependencies.
      const testOnly = files.every((file) => file.isTest);
      const declared = name in pkg.dependencies || (testOnly && name in pkg.devDependencies);
      if (!declared) problems.push(`${pkg.dir}/package.json: "dependencies" lacks "${name}" (imported by ${example})`);
      if (!pkg.references.includes(target.dir)) {
        problems.push(`${pkg.dir}/tsconfig.json: "references" lacks ${target.dir} (${name}, imported by ${example})`);
      }
    }
    for (const name of Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })) {
      if (name.startsWith("@mlzero/") && !importedBy.has(name)) {
        problems.push(`${pkg.dir}/package.json: lists "${name}", which its source never imports`);
      }
    }
    for (const reference of pkg.references) {
      const target = packages.find((other) => other.dir === reference);
      if (!target) problems.push(`${pkg.dir}/tsconfig.json: references ${reference}, which is no workspace package`);
      else if (!importedBy.has(target.name)) {
        problems.push(`${pkg.dir}/tsconfig.json: references ${reference}, whose package (${target.name}) its source never imports`);
      }
    }
  }
  const root = readJson(path.join(REPO_ROOT, "tsconfig.json")) as { references?: { path: string }[] };
  const built = new Set((root.references ?? []).map((reference) => rel(path.resolve(REPO_ROOT, reference.path))));
  for (const pkg of packages) {
    if (!built.has(pkg.dir)) problems.push(`tsconfig.json: "references" lacks ${pkg.dir}, so \`tsc -b\` never builds it`);
  }
  return problems;
}

describe("architecture", () => {
  it("finds the workspace and its source", () => {
    // Guards the scan itself: a wrong root would make every rule pass vacuously.
    expect(packages.map((pkg) => pkg.dir)).toEqual(expect.arrayContaining(["libs/rpc", "services/gateway", "cli", "tests"]));
    expect(serviceNames.size).toBe(6);
    const rpc = byName.get("@mlzero/rpc")!;
    expect(rpc.files.flatMap((file) => file.imports.map((imported) => imported.specifier))).toContain("@grpc/grpc-js");
  });

  it("keeps infrastructure clients in adapters, libs below services, services apart", () => {
    expect(layerViolations()).toEqual([]);
  });

  it("keeps relative imports inside their own package", () => {
    expect(boundaryCrossings()).toEqual([]);
  });

  it("declares and references every @mlzero package a package imports, and no other", () => {
    expect(manifestMismatches()).toEqual([]);
  });
});
