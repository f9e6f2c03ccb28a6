import { readdir, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { InvalidInputError, NotFoundError } from "@mlzero/errors";

/** One file found in the data folder. */
export interface FolderFile {
  /** Path relative to the data folder, with "/" separators. */
  path: string;
  absolutePath: string;
  sizeBytes: number;
}

/** The files of a data folder, and whether the listing stopped at the cap. */
export interface FolderListing {
  files: FolderFile[];
  truncated: boolean;
}

/** Most files listed: a folder of a million images is described by its first few thousand. */
export const MAX_FILES = 5000;

/** Deepest folder level visited, a guard against pathological trees. */
const MAX_DEPTH = 8;

/**
 * Lists a data folder's files, recursively, in a stable (sorted) order.
 * Hidden files and folders (".git", ".DS_Store") and macOS archive debris
 * ("__MACOSX") are not data and are skipped. Symbolic links to files are
 * followed; links to folders are not, so a link cycle cannot trap the walk.
 */
export async function walkFolder(inputDir: string): Promise<FolderListing> {
  const info = await stat(inputDir).catch((error: unknown) => {
    if (error instanceof Error && "code" in error && error.code === "ENOENT") {
      throw new NotFoundError(`input folder ${inputDir} does not exist`, { cause: error });
    }
    throw error;
  });
  if (!info.isDirectory()) throw new InvalidInputError(`input path ${inputDir} is not a folder`);

  const files: FolderFile[] = [];
  let truncated = false;
  const visit = async (dir: string, depth: number): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); // by code unit, the same on every locale
    for (const entry of entries) {
      if (entry.name.startsWith(".") || entry.name === "__MACOSX") continue;
      if (files.length >= MAX_FILES) {
        truncated = true;
        return;
      }
      const absolutePath = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (depth < MAX_DEPTH) await visit(absolutePath, depth + 1);
        continue;
      }
      if (!entry.isFile() && !entry.isSymbolicLink()) continue;
      const target = await stat(absolutePath).catch(() => undefined);
      if (target?.isFile() !== true) continue;
      files.push({ path: relative(inputDir, absolutePath).split(sep).join("/"), absolutePath, sizeBytes: target.size });
    }
  };
  await visit(inputDir, 0);
  if (files.length === 0) throw new InvalidInputError(`input folder ${inputDir} is empty`);
  return { files, truncated };
}
