import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CONFIG_PLACEHOLDER } from "@mlzero/program";
import { KnowledgeKind, Modality, ProblemType } from "@mlzero/proto";
import { DEFAULT_KNOWLEDGE_DIR, loadCorpus } from "./load-corpus.js";

const knowledgeDir = DEFAULT_KNOWLEDGE_DIR;
const copies: string[] = [];

/** A private copy of the real corpus, changed by `edit`. */
async function corpusCopy(edit: (dir: string) => Promise<void>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "mlzero-knowledge-"));
  copies.push(dir);
  await cp(knowledgeDir, dir, { recursive: true });
  await edit(dir);
  return dir;
}

afterAll(async () => {
  await Promise.all(copies.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("loadCorpus on the shipped corpus", () => {
  const corpus = loadCorpus(knowledgeDir);

  it("finds the shipped corpus beside the package", () => {
    expect(DEFAULT_KNOWLEDGE_DIR).toBe(path.resolve(import.meta.dirname, "../knowledge"));
  });

  it("registers the tools by priority, the generic fallback last", () => {
    expect(corpus.tools.map((tool) => [tool.name, tool.priority])).toEqual([
      // The GPU variants first; perception ranks them only when the task's runs get a GPU.
      ["image-timm", 95],
      ["text-transformer", 95],
      ["autogluon", 90],
      ["lightgbm", 80],
      ["tabular-text", 75],
      ["text-tfidf", 70],
      ["timeseries-gbm", 70],
      ["sklearn", 60],
      ["image-cnn", 50],
      ["xgboost", 40],
      ["image-pixels", 30],
      ["baseline", 5],
    ]);
    const lightgbm = corpus.tools.find((tool) => tool.name === "lightgbm")!;
    expect(lightgbm.pythonModule).toBe("lightgbm");
    expect(lightgbm.modalities).toEqual([Modality.TABULAR]);
    expect(lightgbm.problemTypes).toEqual([ProblemType.BINARY, ProblemType.MULTICLASS, ProblemType.REGRESSION]);
    expect(lightgbm.rules.length).toBeGreaterThan(3);
  });

  it("has one template per tool with the config placeholder exactly once", () => {
    expect([...corpus.templates.keys()].sort()).toEqual(corpus.tools.map((tool) => tool.name).sort());
    for (const text of corpus.templates.values()) expect(text.split(CONFIG_PLACEHOLDER)).toHaveLength(2);
  });

  it("splices the shared parts into each template, which reads top to bottom", async () => {
    const shared = async (name: string) => (await readFile(path.join(knowledgeDir, `templates/${name}`), "utf8")).replace(/\n$/, "");
    for (const [tool, text] of corpus.templates) {
      const own = await readFile(path.join(knowledgeDir, `templates/${tool}.py`), "utf8");
      expect(own).toContain("# mlzero:include common.py\n");
      let expected = own;
      for (const [line, name] of own.matchAll(/^# mlzero:include (\S+)$/gm)) {
        const part = await shared(name!);
        expected = expected.replace(line, () => part);
      }
      expect(text).toBe(expected);
      expect(text).not.toContain("mlzero:include");
      // Docstring, then the shared helpers, then the tool's own code, then main.
      const at = (snippet: string) => text.indexOf(snippet);
      expect(at('"""mlzero program template')).toBe(0);
      expect(at("def write_predictions(")).toBeGreaterThan(at(`CONFIG = json.loads(${CONFIG_PLACEHOLDER})`));
      expect(at("def predict(")).toBeGreaterThan(at("def write_predictions("));
      expect(at("def main():")).toBeGreaterThan(at("def predict("));
    }
    // The free-text templates also share the text features, after common.py and before their own code.
    for (const tool of ["text-tfidf", "tabular-text"]) {
      const text = corpus.templates.get(tool)!;
      expect(text.indexOf("def tfidf_union(")).toBeGreaterThan(text.indexOf("def write_predictions("));
      expect(text.indexOf("def main():")).toBeGreaterThan(text.indexOf("def tfidf_union("));
    }
  });

  it("indexes the shared part only inside the templates that include it", () => {
    const parts = ["common", "text_features", "image_io", "torch_train", "torch_images"];
    for (const part of parts) expect(corpus.templates.has(part)).toBe(false);
    for (const part of parts.map((name) => `templates/${name}.py`)) {
      expect(corpus.chunks.filter((chunk) => chunk.source === part)).toEqual([]);
    }
  });

  it("chunks tutorials by section with unique, deterministic ids", () => {
    const ids = corpus.chunks.map((chunk) => chunk.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(loadCorpus(knowledgeDir).chunks.map((chunk) => chunk.id)).toEqual(ids);
    const kinds = (kind: KnowledgeKind) => corpus.chunks.filter((chunk) => chunk.kind === kind).length;
    expect(kinds(KnowledgeKind.TOOL)).toBe(corpus.tools.length);
    expect(kinds(KnowledgeKind.TEMPLATE)).toBe(corpus.tools.length);
    expect(kinds(KnowledgeKind.TUTORIAL)).toBeGreaterThan(30);
    for (const tool of corpus.tools.map((entry) => entry.name)) {
      expect(corpus.chunks.some((chunk) => chunk.tool === tool && chunk.kind === KnowledgeKind.TUTORIAL)).toBe(true);
    }
  });

  it("derives the version from the content", async () => {
    expect(loadCorpus(knowledgeDir).version).toBe(corpus.version);
    const edited = await corpusCopy(async (dir) => {
      await writeFile(path.join(dir, "tutorials/lightgbm/basics.md"), "# Changed\n\n## One\n\ntext\n");
    });
    expect(loadCorpus(edited).version).not.toBe(corpus.version);
  });

  it("changes the version and every template when the shared part changes", async () => {
    const edited = await corpusCopy(async (dir) => {
      const file = path.join(dir, "templates/common.py");
      await writeFile(file, (await readFile(file, "utf8")) + "\n\n# changed\n");
    });
    const changed = loadCorpus(edited);
    expect(changed.version).not.toBe(corpus.version);
    for (const text of changed.templates.values()) expect(text).toContain("# changed\n");
    const templateIds = (loaded: typeof corpus) =>
      loaded.chunks.filter((chunk) => chunk.kind === KnowledgeKind.TEMPLATE).map((chunk) => chunk.id);
    expect(templateIds(changed).filter((id) => templateIds(corpus).includes(id))).toEqual([]);
  });
});

describe("loadCorpus on a malformed corpus", () => {
  const fails = async (edit: (dir: string) => Promise<void>, message: RegExp): Promise<void> => {
    const dir = await corpusCopy(edit);
    expect(() => loadCorpus(dir)).toThrow(message);
  };
  const patchTool = (name: string, patch: (entry: Record<string, unknown>) => void) => async (dir: string) => {
    const file = path.join(dir, `tools/${name}.json`);
    const entry = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
    patch(entry);
    await writeFile(file, JSON.stringify(entry));
  };

  it("names a registry file that is not JSON", async () => {
    await fails((dir) => writeFile(path.join(dir, "tools/sklearn.json"), "{ nope"), /tools\/sklearn\.json: not valid JSON/);
  });

  it("names the file and the field of an invalid entry", async () => {
    await fails(
      patchTool("lightgbm", (entry) => (entry.priority = "high")),
      /tools\/lightgbm\.json: priority/,
    );
    await fails(
      patchTool("lightgbm", (entry) => (entry.modalities = ["audio"])),
      /tools\/lightgbm\.json: modalities/,
    );
    await fails(
      patchTool("lightgbm", (entry) => (entry.extra = 1)),
      /tools\/lightgbm\.json: .*extra/,
    );
    await fails(
      patchTool("lightgbm", (entry) => (entry.name = "lgbm")),
      /must match the file name lightgbm/,
    );
  });

  it("requires a well-formed template for every tool", async () => {
    await fails((dir) => rm(path.join(dir, "templates/sklearn.py")), /templates\/sklearn\.py: the tool sklearn has no program template/);
    await fails(
      (dir) => writeFile(path.join(dir, "templates/sklearn.py"), `A = ${CONFIG_PLACEHOLDER}\nB = ${CONFIG_PLACEHOLDER}\n`),
      /templates\/sklearn\.py: .*exactly once, found 2/,
    );
    await fails((dir) => writeFile(path.join(dir, "templates/sklearn.py"), `A = ${CONFIG_PLACEHOLDER}\n`), /CONFIG = json\.loads/);
    await fails((dir) => writeFile(path.join(dir, "templates/catboost.py"), "x"), /templates\/catboost\.py: no registry entry/);
  });

  it("names the template whose include is missing, outside templates/, malformed or nested", async () => {
    const include = (line: string) => async (dir: string) => {
      const file = path.join(dir, "templates/sklearn.py");
      await writeFile(file, (await readFile(file, "utf8")).replace("# mlzero:include common.py", line));
    };
    await fails(
      include("# mlzero:include shared.py"),
      /templates\/sklearn\.py: it includes shared\.py, but templates\/shared\.py does not exist/,
    );
    await fails(
      (dir) => rm(path.join(dir, "templates/common.py")),
      /templates\/autogluon\.py: it includes common\.py, but templates\/common\.py does not exist/,
    );
    await fails(
      include("# mlzero:include ../tools/sklearn.json"),
      /templates\/sklearn\.py: it includes \.\.\/tools\/sklearn\.json, which is outside templates\//,
    );
    await fails(include("# mlzero:include ../templates/../../outside.py"), /templates\/sklearn\.py: .*outside templates\//);
    await fails(
      include("# mlzero:include /etc/hostname"),
      /templates\/sklearn\.py: it includes \/etc\/hostname, which is outside templates\//,
    );
    await fails(include("#mlzero:include common.py"), /templates\/sklearn\.py: malformed include "#mlzero:include common\.py"/);
    await fails(async (dir) => {
      await include("# mlzero:include nested.py")(dir);
      await writeFile(path.join(dir, "templates/nested.py"), "# mlzero:include common.py\n");
    }, /templates\/sklearn\.py: it includes templates\/nested\.py, which includes in turn/);
  });

  it("names a tutorial without sections or for an unknown tool", async () => {
    await fails(
      (dir) => writeFile(path.join(dir, "tutorials/sklearn/bad.md"), "# Bad\n\nprose only\n"),
      /tutorials\/sklearn\/bad\.md: it has no/,
    );
    await fails(
      (dir) => cp(path.join(dir, "tutorials/sklearn"), path.join(dir, "tutorials/catboost"), { recursive: true }),
      /tutorials\/catboost: no registry entry/,
    );
  });
});
