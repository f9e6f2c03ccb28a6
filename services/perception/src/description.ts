import { open } from "node:fs/promises";
import { extname } from "node:path";
import { nameWords } from "./file-names.js";
import type { FolderFile } from "./walk-folder.js";

/** Most characters of description text passed on to later agents (prompts have budgets). */
export const DESCRIPTION_MAX_CHARS = 4000;

/** Most bytes of a description file read to look for hints. */
const DESCRIPTION_READ_BYTES = 64 * 1024;

const TEXT_EXTENSIONS = new Set([".txt", ".md", ".markdown", ".rst"]);

/** Name words of description files, most telling first. */
const DESCRIPTION_WORDS = [
  "description",
  "task",
  "instructions",
  "instruction",
  "problem",
  "overview",
  "readme",
  "prompt",
  "about",
  "info",
  "details",
];

/** Whether a file is plain prose by its extension (a description candidate). */
export function isTextFile(path: string): boolean {
  return TEXT_EXTENSIONS.has(extname(path).toLowerCase());
}

/** Whether a file's name marks it as a description ("README.md", "task_description.txt"). */
export function isDescriptionName(path: string): boolean {
  const words = nameWords(path);
  return DESCRIPTION_WORDS.some((word) => words.includes(word));
}

/**
 * Picks the description file among the text files: the one whose name is
 * most telling ("description" before "readme"), the shallowest on a tie;
 * failing names, the only text file there is. Returns the file and why.
 */
export function findDescriptionFile(textFiles: readonly FolderFile[]): { file: FolderFile; evidence: string } | undefined {
  let best: { file: FolderFile; rank: number } | undefined;
  for (const file of textFiles) {
    const words = nameWords(file.path);
    const rank = DESCRIPTION_WORDS.findIndex((word) => words.includes(word));
    if (rank < 0) continue;
    const depth = file.path.split("/").length;
    const bestDepth = best?.file.path.split("/").length ?? Infinity;
    if (best === undefined || rank < best.rank || (rank === best.rank && depth < bestDepth)) best = { file, rank };
  }
  if (best !== undefined) {
    return { file: best.file, evidence: `the file name says "${DESCRIPTION_WORDS[best.rank]}"` };
  }
  const only = textFiles.length === 1 ? textFiles[0] : undefined;
  return only === undefined ? undefined : { file: only, evidence: "it is the only text file in the folder" };
}

/** Reads the start of a description file as text; bytes that are not UTF-8 become U+FFFD. */
export async function readDescriptionFile(file: FolderFile): Promise<string> {
  const handle = await open(file.absolutePath, "r");
  try {
    const buffer = Buffer.alloc(Math.min(DESCRIPTION_READ_BYTES, file.sizeBytes));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return new TextDecoder("utf-8").decode(buffer.subarray(0, bytesRead)).replace(/^\uFEFF/, "");
  } finally {
    await handle.close();
  }
}

/** Joins the request's description and the file's, the request first since it is what this user asked. */
export function joinDescriptions(request: string | undefined, fileText: string | undefined): string {
  return [request, fileText]
    .map((part) => part?.trim() ?? "")
    .filter((part) => part !== "")
    .join("\n\n");
}

/** Cuts description text to {@link DESCRIPTION_MAX_CHARS}: later agents put it in prompts, which have budgets. */
export function capDescription(text: string): string {
  return text.length <= DESCRIPTION_MAX_CHARS ? text : text.slice(0, DESCRIPTION_MAX_CHARS);
}
