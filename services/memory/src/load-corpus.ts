import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { FailedPreconditionError } from "@mlzero/errors";
import { CONFIG_PLACEHOLDER } from "@mlzero/program";
import { KnowledgeKind, type Tool } from "@mlzero/proto";
import { uuidV5 } from "@mlzero/vectors";
import { splitSections } from "./markdown-sections.js";
import { toolEntrySchema, toolMessage, toolText, type ToolEntry } from "./tool-entry.js";

/**
 * Bump when chunking or encoding changes, so that an index built by older
 * code counts as stale even when the corpus files did not change.
 */
const INDEX_FORMAT = "mlzero-knowledge/1";

/**
 * The corpus shipped with this package, `services/memory/knowledge`: found
 * from this module's own location, so it holds for src/ (tests) and dist/
 * alike, as long as the folder ships beside dist/.
 */
export const DEFAULT_KNOWLEDGE_DIR = fileURLToPath(new URL("../knowledge", import.meta.url));

/** One retrievable unit: a tutorial section, a whole template, or a registry entry. */
export interface KnowledgeChunk {
  /** Deterministic point id: UUIDv5 of source, chunk index and content hash. */
  id: string;
  tool: string;
  kind: KnowledgeKind;
  title: string;
  text: string;
  /** Path of the file it came from, relative to the knowledge folder. */
  source: string;
}

/** The semantic-memory corpus, loaded and validated. */
export interface Corpus {
  /** Hash of every corpus file and the index format: equal versions index identically. */
  version: string;
  /** Registry entries, by descending priority then name. */
  tools: Tool[];
  /** Program template text by tool name. */
  templates: Map<string, string>;
  chunks: KnowledgeChunk[];
}

/**
 * Reads `knowledge/{tools,templates,tutorials}`, validates every file and
 * cuts it into chunks. Runs once at start and fails fast: a malformed or
 * inconsistent file stops the load with an error that names it.
 * Layout: `tools/<tool>.json` (registry entry), `templates/<tool>.py` (one per
 * tool, required), `tutorials/<tool>/*.md` (split at `## ` headings).
 */
export function loadCorpus(knowledgeDir: string): Corpus {
  const root = path.resolve(knowledgeDir);
  const files: { relative: string; content: string }[] = [];
  const read = (relative: string): string => {
    const content = readFileSync(path.join(root, relative), "utf8");
    files.push({ relative, content });
    return content;
  };

  const entries = listFiles(root, "tools", ".json").map((relative) => parseToolEntry(relative, read(relative)));
  if (entries.length === 0) fail("tools", "the registry has no tool (expected tools/<tool>.json)");
  const names = new Set(entries.map((entry) => entry.name));

  const chunks: KnowledgeChunk[] = [];
  const templates = new Map<string, string>();
  for (const entry of entries) {
    chunks.push(chunk(`tools/${entry.name}.json`, 0, entry.name, KnowledgeKind.TOOL, `${entry.name} tool registry entry`, toolText(entry)));
  }

  for (const relative of listFiles(root, "templates", ".py")) {
    const tool = path.basename(relative, ".py");
    if (!names.has(tool)) fail(relative, `no registry entry tools/${tool}.json for this template`);
    const text = read(relative);
    const occurrences = text.split(CONFIG_PLACEHOLDER).length - 1;
    if (occurrences !== 1) fail(relative, `a template must contain ${CONFIG_PLACEHOLDER} exactly once, found ${occurrences}`);
    if (!text.includes(`CONFIG = json.loads(${CONFIG_PLACEHOLDER})`)) {
      fail(relative, `a template must read its config as CONFIG = json.loads(${CONFIG_PLACEHOLDER})`);
    }
    templates.set(tool, text);
    chunks.push(chunk(relative, 0, tool, KnowledgeKind.TEMPLATE, `${tool} program template`, text));
  }
  for (const name of names) if (!templates.has(name)) fail(`templates/${name}.py`, `the tool ${name} has no program template`);

  const tutorialsDir = path.join(root, "tutorials");
  const tutorialTools = existsSync(tutorialsDir) ? readdirSync(tutorialsDir).sort() : [];
  for (const tool of tutorialTools) {
    if (!statSync(path.join(tutorialsDir, tool)).isDirectory()) fail(`tutorials/${tool}`, "tutorials live in tutorials/<tool>/*.md");
    if (!names.has(tool)) fail(`tutorials/${tool}`, `no registry entry tools/${tool}.json for these tutorials`);
    for (const relative of listFiles(root, `tutorials/${tool}`, ".md")) {
      const split = splitSections(read(relative));
      if (typeof split === "string") fail(relative, split);
      split.sections.forEach((section, index) => {
        chunks.push(chunk(relative, index, tool, KnowledgeKind.TUTORIAL, `${split.title}: ${section.heading}`, section.text));
      });
    }
  }

  const hash = createHash("sha256").update(INDEX_FORMAT);
  for (const file of [...files].sort((left, right) => (left.relative < right.relative ? -1 : 1))) {
    hash.update(`\0${file.relative}\0${file.content}`);
  }
  const tools = entries
    .sort((left, right) => right.priority - left.priority || (left.name < right.name ? -1 : 1))
    .map(toolMessage);
  return { version: hash.digest("hex"), tools, templates, chunks };
}

function listFiles(root: string, folder: string, extension: string): string[] {
  const directory = path.join(root, folder);
  if (!existsSync(directory)) return [];
  return readdirSync(directory)
    .filter((name) => name.endsWith(extension))
    .sort()
    .map((name) => `${folder}/${name}`);
}

function parseToolEntry(relative: string, content: string): ToolEntry {
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch (error) {
    fail(relative, `not valid JSON (${(error as Error).message})`);
  }
  const parsed = toolEntrySchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    fail(relative, `${issue.path.join(".") || "entry"}: ${issue.message}`);
  }
  const expected = path.basename(relative, ".json");
  if (parsed.data.name !== expected) fail(relative, `name ${JSON.stringify(parsed.data.name)} must match the file name ${expected}`);
  return parsed.data;
}

function chunk(source: string, index: number, tool: string, kind: KnowledgeKind, title: string, text: string): KnowledgeChunk {
  const contentHash = createHash("sha256").update(`${title}\n${text}`).digest("hex").slice(0, 16);
  return { id: uuidV5(`knowledge/${source}#${index}#${contentHash}`), tool, kind, title, text, source };
}

function fail(relative: string, reason: string): never {
  throw new FailedPreconditionError(`knowledge corpus file ${relative}: ${reason}`);
}
