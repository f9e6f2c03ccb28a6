import { chmod, cp, lstat, readdir, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidInputError, NotFoundError } from "@mlzero/errors";

/** A URI's scheme and `//`, e.g. `s3://`. */
const URI_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** The local folder an input URI names: a path, or a `file://` URI. */
export function inputFolderOf(inputUri: string): string {
  const trimmed = inputUri.trim();
  if (!trimmed) throw new InvalidInputError("the task names no input folder (spec.input_uri is empty)");
  if (trimmed.includes("\0")) throw new InvalidInputError("input_uri must not contain a NUL character");
  if (trimmed.startsWith("file://")) {
    try {
      return fileURLToPath(trimmed);
    } catch (error) {
      throw new InvalidInputError(`input ${JSON.stringify(trimmed)} is not a usable file:// URI: ${(error as Error).message}`);
    }
  }
  if (URI_SCHEME.test(trimmed)) {
    throw new InvalidInputError(`input ${JSON.stringify(trimmed)} is not a local folder: only paths and file:// URIs are supported`);
  }
  return path.resolve(trimmed);
}

/**
 * An allowed root as configured (a path or a `file://` URI) as an absolute
 * path; throws when it is neither.
 */
export function allowedRootOf(root: string): string {
  const trimmed = root.trim();
  const folder = trimmed.startsWith("file://") ? fileURLToPath(trimmed) : trimmed;
  if (!path.isAbsolute(folder)) throw new Error(`allowed root ${JSON.stringify(root)} is not an absolute path or a file:// URI`);
  return path.resolve(folder);
}

/** Where inputs may and may not come from. */
export interface InputRoots {
  /** Folders an input must be in; empty: any local folder. */
  allowedRoots?: readonly string[];
  /** Folders an input must not be in (the gateway's workspace, with tenants). */
  deniedRoots?: readonly string[];
}

/**
 * The folder an input URI names, checked against the allowed roots: its real
 * path (symbolic links and `..` resolved) must be one of them or inside one,
 * else INVALID_ARGUMENT naming them. With no roots, any local folder (as
 * before roots existed). A folder that does not exist is checked by the real
 * path of its nearest existing parent, so a name outside the roots is
 * INVALID_ARGUMENT whether it exists or not (nothing is learnt about the
 * file system outside). Returns the path to read (the real one, so a link
 * swapped in after the check is not followed) and the path to record.
 */
export async function resolveInput(inputUri: string, roots: InputRoots = {}): Promise<{ source: string; given: string }> {
  const allowedRoots = roots.allowedRoots ?? [];
  const deniedRoots = roots.deniedRoots ?? [];
  const trimmed = inputUri.trim();
  if (allowedRoots.length > 0 && trimmed && !URI_SCHEME.test(trimmed) && !path.isAbsolute(trimmed)) {
    throw new InvalidInputError(
      `input ${JSON.stringify(trimmed)} must be an absolute path or a file:// URI under ${rootsText(allowedRoots)}`,
    );
  }
  const given = inputFolderOf(inputUri);
  if (allowedRoots.length === 0 && deniedRoots.length === 0) return { source: given, given };
  const real = await realPathOf(given);
  if (allowedRoots.length > 0) {
    const allowed = await Promise.all(allowedRoots.map((root) => realPathOf(root)));
    if (!allowed.some((root) => isInside(real, root))) {
      throw new InvalidInputError(`input ${JSON.stringify(trimmed)} is outside the allowed roots: ${rootsText(allowedRoots)}`);
    }
  }
  const denied = await Promise.all(deniedRoots.map((root) => realPathOf(root)));
  if (denied.some((root) => isInside(real, root) || isInside(root, real))) {
    throw new InvalidInputError(`input ${JSON.stringify(trimmed)} is in or above the gateway's workspace: inputs cannot be task folders`);
  }
  return { source: real, given };
}

function rootsText(roots: readonly string[]): string {
  return roots.join(", ");
}

/** `file` with every symbolic link and `..` resolved, as far as it exists; the rest appended. */
async function realPathOf(file: string): Promise<string> {
  const absolute = path.resolve(file);
  try {
    return await realpath(absolute);
  } catch {
    const parent = path.dirname(absolute);
    if (parent === absolute) return absolute;
    return path.join(await realPathOf(parent), path.basename(absolute));
  }
}

/** True when `file` is `root` or below it. */
function isInside(file: string, root: string): boolean {
  const relative = path.relative(root, file);
  return relative === "" || (relative !== ".." && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

/**
 * Checks the data folder and copies it into the task's workspace, read-only,
 * so the program never touches the user's files. Symbolic links are left
 * out: they could point anywhere.
 */
export async function stageInput(source: string, target: string): Promise<void> {
  const info = await stat(source).catch(() => undefined);
  if (!info) throw new NotFoundError(`input folder ${source} does not exist`);
  if (!info.isDirectory()) throw new InvalidInputError(`input ${source} is not a folder`);
  const entries = (await readdir(source)).filter((name) => !name.startsWith("."));
  if (entries.length === 0) throw new InvalidInputError(`input folder ${source} is empty`);
  await cp(source, target, { recursive: true, verbatimSymlinks: true, filter: async (file) => !(await isSymlink(file)) });
  await makeReadOnly(target);
}

async function isSymlink(file: string): Promise<boolean> {
  return (await lstat(file)).isSymbolicLink();
}

async function makeReadOnly(folder: string): Promise<void> {
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) await makeReadOnly(full);
    else await chmod(full, 0o444);
  }
  await chmod(folder, 0o555);
}
