import { posix } from "node:path";
import { ColumnType } from "@mlzero/proto";
import { cellText } from "../tabular/cell-values.js";
import { columnCells } from "../tabular/profile-columns.js";
import type { TableFile } from "../tabular/table-file.js";
import type { FolderFile } from "../walk-folder.js";
import { isImageFile } from "./image-files.js";

/** Images listed in a column of the train and test tables. */
export interface ImageTable {
  column: string;
  /** Folder the listed paths are relative to, relative to the data folder ("" is the data folder). */
  root: string;
  trainFiles: FolderFile[];
  testFiles: FolderFile[];
  /** Listed training paths that name no file. */
  missing: number;
}

/** Least share of listed training images that must exist under the chosen folder. */
const MIN_FOUND = 0.5;

/**
 * The column of both tables whose values are image paths (nearly all end in
 * an image extension), with the folder they are relative to: the tables'
 * own folder, the data folder, or a folder of images, whichever holds the
 * most of the listed training images (at least half). `undefined` when no
 * column lists images.
 */
export function findImagePathColumn(
  train: TableFile,
  test: TableFile,
  label: string,
  files: readonly FolderFile[],
): ImageTable | undefined {
  const byPath = new Map(files.map((file) => [file.path, file]));
  // Listed paths may keep folders of their own ("train/cat/1.png"): try every folder above an image.
  const folders = new Set(["", posix.dirname(train.file.path)]);
  for (const file of files) {
    if (!isImageFile(file.path)) continue;
    for (let folder = posix.dirname(file.path); folder !== "." && !folders.has(folder); folder = posix.dirname(folder)) folders.add(folder);
  }
  for (const profile of train.columns) {
    const column = profile.name;
    if (column === label || !test.table.columns.includes(column)) continue;
    if (profile.type !== ColumnType.CATEGORICAL && profile.type !== ColumnType.TEXT) continue;
    const listed = paths(train, column);
    if (!isPathColumn(train, column)) continue;
    let best: { root: string; found: FolderFile[] } | undefined;
    for (const folder of folders) {
      const root = folder === "." ? "" : folder;
      const found = resolveAll(listed, root, byPath);
      if (best === undefined || found.length > best.found.length) best = { root, found };
    }
    if (best === undefined || best.found.length < MIN_FOUND * listed.length) continue;
    return {
      column,
      root: best.root,
      trainFiles: best.found,
      testFiles: resolveAll(paths(test, column), best.root, byPath),
      missing: listed.length - best.found.length,
    };
  }
  return undefined;
}

/** Whether any column of the table holds image paths. */
export function listsImages(file: TableFile): boolean {
  return file.table.columns.some((column) => isPathColumn(file, column));
}

/** Whether nearly all of a column's values end in an image extension. */
function isPathColumn(file: TableFile, column: string): boolean {
  const listed = paths(file, column);
  return listed.length > 0 && listed.filter(isImageFile).length >= 0.9 * listed.length;
}

function paths(file: TableFile, column: string): string[] {
  return columnCells(file.table, column)
    .filter((cell) => cell !== undefined)
    .map((cell) => cellText(cell).trim().replace(/\\/g, "/"));
}

function resolveAll(listed: readonly string[], root: string, byPath: ReadonlyMap<string, FolderFile>): FolderFile[] {
  return listed
    .filter((path) => !posix.isAbsolute(path))
    .map((path) => byPath.get(posix.normalize(posix.join(root, path))))
    .filter((file): file is FolderFile => file !== undefined);
}
