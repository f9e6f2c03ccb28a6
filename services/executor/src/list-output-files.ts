import { readdir } from "node:fs/promises";
import path from "node:path";

/**
 * Regular files under `dir`, as sorted paths relative to it with "/"
 * separators. Symbolic links are neither followed nor listed: the program is
 * untrusted and a link could point anywhere on the host.
 */
export async function listOutputFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join("/"))
    .sort();
}
