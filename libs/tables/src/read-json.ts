import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { tableFileError } from "./table-file-error.js";
import type { Cell, Table } from "./table.js";
import { toCell } from "./to-cell.js";

type JsonRecord = Record<string, unknown>;

/**
 * Reads a JSON file holding an array of records, or an object with exactly
 * one array-of-records property (`{"data": [...]}`), as many exports wrap
 * their rows. Columns are the union of the records' keys, in first-seen order.
 */
export async function readJson(filePath: string, maxRows: number): Promise<Table> {
  let document: unknown;
  try {
    document = JSON.parse(await readFile(filePath, "utf8"));
  } catch (error) {
    // V8 cannot hold a string past ~512 MB; such a file needs a streaming format.
    if (error instanceof RangeError) {
      throw tableFileError(filePath, "is too large to read as one JSON document: use JSON Lines or Parquet", error);
    }
    throw tableFileError(filePath, "is not valid JSON", error);
  }
  const records = findRecords(document);
  if (records === undefined) {
    throw tableFileError(filePath, "is not a JSON table: expected an array of records, or an object with one such array");
  }
  if (records.length === 0) throw tableFileError(filePath, "has no records");
  return toTable("json", records.slice(0, maxRows), records.length);
}

/**
 * Reads a JSON Lines file: one record per non-blank line. Stops parsing after
 * `maxRows` records and only counts the rest.
 */
export async function readJsonLines(filePath: string, maxRows: number): Promise<Table> {
  const source = createReadStream(filePath, { encoding: "utf8" });
  const lines = createInterface({ input: source, crlfDelay: Infinity });
  const records: JsonRecord[] = [];
  let total = 0;
  let lineNumber = 0;
  try {
    for await (const line of lines) {
      lineNumber++;
      const text = lineNumber === 1 ? line.replace(/^\uFEFF/, "") : line;
      if (text.trim() === "") continue;
      total++;
      if (records.length === maxRows) continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        throw tableFileError(filePath, `is not valid JSON Lines: line ${lineNumber} is not valid JSON`, error);
      }
      if (!isRecord(value)) {
        throw tableFileError(filePath, `is not valid JSON Lines: line ${lineNumber} is not a JSON object`);
      }
      records.push(value);
    }
  } finally {
    lines.close();
    source.destroy();
  }
  if (total === 0) throw tableFileError(filePath, "is empty");
  return toTable("jsonl", records, total);
}

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isRecordArray(value: unknown): value is JsonRecord[] {
  return Array.isArray(value) && value.every(isRecord);
}

function findRecords(document: unknown): JsonRecord[] | undefined {
  if (isRecordArray(document)) return document;
  if (!isRecord(document)) return undefined;
  const arrays = Object.values(document).filter((value) => isRecordArray(value) && value.length > 0);
  return arrays.length === 1 ? (arrays[0] as JsonRecord[]) : undefined;
}

function toTable(format: "json" | "jsonl", records: JsonRecord[], totalRows: number): Table {
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const record of records) {
    for (const key of Object.keys(record)) {
      if (!seen.has(key)) {
        seen.add(key);
        columns.push(key);
      }
    }
  }
  const rows: Cell[][] = records.map((record) => columns.map((column) => toCell(record[column])));
  return { format, columns, rows, totalRows };
}
