import { isTestName, isTrainName, isValidationName } from "./file-names.js";
import type { FolderFile } from "./walk-folder.js";

/** Examples sorted into one subfolder per class, and the folder of examples to predict. */
export interface ClassFolders {
  /** Folder holding the class subfolders, relative to the data folder; "" is the data folder. */
  root: string;
  /** Each class's example files (under its subfolder, at any depth), classes in sorted order. */
  classes: Map<string, FolderFile[]>;
  /** Folder of the examples to predict, relative to the data folder; undefined when there is none. */
  testRoot?: string;
  /** The example files under testRoot, sorted. */
  testFiles: FolderFile[];
}

/**
 * Finds examples laid out as `<root>/<class>/<file>` (e.g. train/cat/1.png):
 * the folder whose subfolders (at least two) hold examples, none of them
 * named like a split ("train", "test", "val"), since such a folder is the
 * split's parent, not a class. A train-named root goes first, then the
 * shallowest, then the one with most examples. The examples to predict are
 * those under the shallowest test-named folder ("test", "unlabelled") outside
 * the root. `undefined` when no folder has two class subfolders.
 */
export function findClassFolders(files: readonly FolderFile[], isExample: (path: string) => boolean): ClassFolders | undefined {
  const examples = files.filter((file) => isExample(file.path));
  const byFolder = new Map<string, Map<string, FolderFile[]>>();
  for (const file of examples) {
    const segments = file.path.split("/");
    for (let depth = 0; depth <= segments.length - 2; depth++) {
      const folder = segments.slice(0, depth).join("/");
      const group = segments[depth]!;
      const classes = byFolder.get(folder) ?? new Map<string, FolderFile[]>();
      const members = classes.get(group) ?? [];
      members.push(file);
      classes.set(group, members);
      byFolder.set(folder, classes);
    }
  }
  const isSplit = (name: string) => isTrainName(name) || isTestName(name) || isValidationName(name);
  const candidates = [...byFolder]
    .filter(([folder, classes]) => classes.size >= 2 && ![...classes.keys()].some(isSplit) && !isHeldOut(folder))
    .map(([folder, classes]) => ({
      folder,
      classes,
      key: [Number(folder.split("/").some(isTrainName)), -depthOf(folder), [...classes.values()].flat().length],
    }))
    .sort((a, b) => compareKeys(b.key, a.key));
  const chosen = candidates[0];
  if (chosen === undefined) return undefined;
  const classes = new Map([...chosen.classes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const test = findTestFolder(examples, chosen.folder);
  return { root: chosen.folder, classes, ...(test === undefined ? {} : { testRoot: test.folder }), testFiles: test?.files ?? [] };
}

/**
 * The shallowest test-named folder holding examples outside `root` (most
 * examples on a tie), with the examples under it.
 */
export function findTestFolder(
  examples: readonly FolderFile[],
  root: string | undefined,
): { folder: string; files: FolderFile[] } | undefined {
  const byFolder = new Map<string, FolderFile[]>();
  for (const file of examples) {
    if (root !== undefined && isInside(file.path, root)) continue;
    const segments = file.path.split("/");
    for (let depth = 1; depth < segments.length; depth++) {
      const folder = segments.slice(0, depth).join("/");
      if (!isTestName(segments[depth - 1]!)) continue;
      const members = byFolder.get(folder) ?? [];
      members.push(file);
      byFolder.set(folder, members);
      break;
    }
  }
  const [best] = [...byFolder]
    .map(([folder, files]) => ({ folder, files, key: [-depthOf(folder), files.length] }))
    .sort((a, b) => compareKeys(b.key, a.key));
  return best === undefined ? undefined : { folder: best.folder, files: best.files };
}

/** Whether a path lies inside a folder ("" is the data folder, which holds everything). */
export function isInside(path: string, folder: string): boolean {
  return folder === "" || path.startsWith(`${folder}/`);
}

/** A path relative to a folder inside the data folder. */
export function relativeTo(path: string, folder: string): string {
  return folder === "" ? path : path.slice(folder.length + 1);
}

/** Whether any folder on the path is named like a test or validation split. */
function isHeldOut(folder: string): boolean {
  return folder !== "" && folder.split("/").some((segment) => isTestName(segment) || isValidationName(segment));
}

function depthOf(folder: string): number {
  return folder === "" ? 0 : folder.split("/").length;
}

function compareKeys(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}
