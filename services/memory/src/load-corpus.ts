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

/** A template line `# mlzero:include common.py` stands for the file templates/common.py. */
const INCLUDE_MARKER = "# mlzero:include";
/** Any line that looks like an include, well formed or not. */
const INCLUDE_LINE = /^#\s*mlzero:include\b/m;
/** A well-formed include: the marker, one space, a path of plain names. */
const INCLUDE_FORM = /^# mlzero:include ([\w./-]+)$/;

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
 * A template line `# mlzero:include <file>` stands for that file of
 * templates/ (see INCLUDE_MARKER); a file some template includes is a shared
 * part, not a template of its own.
 */
export function loadCorpus(knowledgeDir: string): Corpus {
  const root = path.resolve(knowledgeDir);
  // Every file read, once each, for the version hash: an included file counts too.
  const files = new Map<string, string>();
  const read = (relative: string): string => {
    let content = files.get(relative);
    if (content === undefined) {
      content = readFileSync(path.join(root, relative), "utf8");
      files.set(relative, content);
    }
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

  const included = new Set<string>();
  const templateFiles = listFiles(root, "templates", ".py");
  const expanded = templateFiles.map((relative) => [relative, expandIncludes(root, relative, read, included)] as const);
  for (const [relative, text] of expanded) {
    // A shared part reaches the index inside each template that includes it.
    if (included.has(relative)) continue;
    const tool = path.basename(relative, ".py");
    if (!names.has(tool)) fail(relative, `no registry entry tools/${tool}.json for this template`);
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
  for (const [relative, content] of [...files].sort(([left], [right]) => (left < right ? -1 : 1))) {
    hash.update(`\0${relative}\0${content}`);
  }
  const tools = entries.sort((left, right) => right.priority - left.priority || (left.name < right.name ? -1 : 1)).map(toolMessage);
  return { version: hash.digest("hex"), tools, templates, chunks };
}

/**
 * A template with each include line replaced by the named file of templates/
 * (less its final newline, so the template's own blank lines follow): one
 * copy of the shared program code serves every template, while the template a
 * client retrieves stays one self-contained program. Adds the files it
 * includes to `included`; an included file may not include in turn.
 */
function expandIncludes(root: string, relative: string, read: (relative: string) => string, included: Set<string>): string {
  const lines = read(relative)
    .split("\n")
    .map((line) => {
      if (!INCLUDE_LINE.test(line)) return line;
      const name = INCLUDE_FORM.exec(line)?.[1];
      if (name === undefined) fail(relative, `malformed include ${JSON.stringify(line)}; the form is "${INCLUDE_MARKER} common.py"`);
      const target = path.posix.normalize(`templates/${name}`);
      if (name.startsWith("/") || !target.startsWith("templates/")) fail(relative, `it includes ${name}, which is outside templates/`);
      const file = path.join(root, target);
      if (!existsSync(file) || !statSync(file).isFile()) fail(relative, `it includes ${name}, but ${target} does not exist`);
      const text = read(target);
      if (INCLUDE_LINE.test(text)) fail(relative, `it includes ${target}, which includes in turn: includes do not nest`);
      included.add(target);
      return text.replace(/\n$/, "");
    });
  return lines.join("\n");
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
