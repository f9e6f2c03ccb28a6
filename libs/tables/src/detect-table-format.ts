import { extname } from "node:path";
import type { TableFormat } from "./table.js";

const FORMAT_BY_EXTENSION: Readonly<Record<string, TableFormat>> = {
  ".csv": "csv",
  ".tsv": "tsv",
  ".tab": "tsv",
  ".json": "json",
  ".jsonl": "jsonl",
  ".ndjson": "jsonl",
  ".parquet": "parquet",
  ".pq": "parquet",
};

/**
 * The table format a file name implies, or `undefined` when the extension says
 * nothing. A `.txt` file is left out on purpose: it is as often a description
 * as a table, so callers decide and read it with `format: "csv"`, which sniffs
 * the delimiter.
 */
export function detectTableFormat(filePath: string): TableFormat | undefined {
  return FORMAT_BY_EXTENSION[extname(filePath).toLowerCase()];
}
