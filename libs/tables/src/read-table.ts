import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { NotFoundError } from "@mlzero/errors";
import { detectTableFormat } from "./detect-table-format.js";
import { readDelimited } from "./read-delimited.js";
import { readHead } from "./read-head.js";
import { readJson, readJsonLines } from "./read-json.js";
import { readParquet } from "./read-parquet.js";
import { tableFileError } from "./table-file-error.js";
import { decodeTextHead } from "./text-content.js";
import type { ReadTableOptions, Table } from "./table.js";

/** Bytes of a text file's start used to check it is text and to sniff its delimiter. */
const HEAD_BYTES = 64 * 1024;

/**
 * Reads a table file into rows of cells. Any problem with the file, such as
 * binary content, no header, ragged rows or bad JSON, is an InvalidInputError
 * whose one-line message names the file and says what is wrong.
 */
export async function readTable(filePath: string, options: ReadTableOptions = {}): Promise<Table> {
  const format = options.format ?? detectTableFormat(filePath);
  if (format === undefined) {
    throw tableFileError(filePath, "is not a table file: expected .csv, .tsv, .json, .jsonl, .ndjson or .parquet");
  }
  const maxRows = options.maxRows ?? Number.POSITIVE_INFINITY;
  if (!(maxRows >= 0)) throw tableFileError(filePath, `cannot be read with maxRows ${maxRows}`);

  const info = await stat(filePath).catch((error: unknown) => {
    throw isMissing(error) ? new NotFoundError(`${basename(filePath)} does not exist`, { cause: error }) : error;
  });
  if (!info.isFile()) throw tableFileError(filePath, "is not a file");
  if (info.size === 0) throw tableFileError(filePath, "is empty");
  if (format === "parquet") return readParquet(filePath, maxRows);

  const headBytes = await readHead(filePath, HEAD_BYTES);
  const complete = headBytes.length >= info.size;
  const head = decodeTextHead(filePath, headBytes, complete);
  switch (format) {
    case "csv":
    case "tsv":
      return readDelimited(filePath, { format, head, complete, maxRows });
    case "json":
      return readJson(filePath, maxRows);
    case "jsonl":
      return readJsonLines(filePath, maxRows);
  }
}

function isMissing(error: unknown): boolean {
  return error instanceof Error && "code" in error && error.code === "ENOENT";
}
