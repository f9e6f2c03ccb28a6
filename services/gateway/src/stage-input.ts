import { chmod, cp, lstat, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidInputError, NotFoundError } from "@mlzero/errors";

/** The local folder an input URI names: a path, or a `file://` URI. */
export function inputFolderOf(inputUri: string): string {
  const trimmed = inputUri.trim();
  if (!trimmed) throw new InvalidInputError("the task names no input folder");
  if (trimmed.startsWith("file://")) return fileURLToPath(trimmed);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    throw new InvalidInputError(`input ${JSON.stringify(trimmed)} is not a local folder: only paths and file:// URIs are supported`);
  }
  return path.resolve(trimmed);
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
