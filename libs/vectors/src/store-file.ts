import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { FailedPreconditionError } from "@mlzero/errors";
import type { CollectionSpec, Point } from "./vector-store.js";

const FORMAT = "mlzero-vectors/1";

/** The embedded store's file: every collection's spec and points. */
export interface StoreSnapshot {
  collections: Record<string, { spec: CollectionSpec; points: Point[] }>;
}

/**
 * Reads a snapshot; a missing file is an empty store, an unreadable one stops
 * the start naming the file. Synchronous: it runs once, at start, before the
 * store serves anything.
 */
export function readSnapshot(file: string): StoreSnapshot {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { collections: {} };
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new FailedPreconditionError(`vector store file ${file} is not valid JSON`, { cause: error });
  }
  const record = parsed as { format?: unknown; collections?: unknown };
  if (
    typeof parsed !== "object" ||
    parsed === null ||
    record.format !== FORMAT ||
    typeof record.collections !== "object" ||
    record.collections === null
  ) {
    throw new FailedPreconditionError(`vector store file ${file} is not a ${FORMAT} snapshot`);
  }
  return { collections: record.collections as StoreSnapshot["collections"] };
}

/**
 * Writes a snapshot atomically: to a temporary file beside the target, then
 * renamed over it, so a crash mid-write leaves the previous snapshot whole.
 */
export async function writeSnapshot(file: string, snapshot: StoreSnapshot): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${randomUUID()}.tmp`;
  try {
    await writeFile(temporary, JSON.stringify({ format: FORMAT, ...snapshot }));
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
