import { extname } from "node:path";
import { InvalidInputError } from "@mlzero/errors";
import { readTable, type TableFormat } from "@mlzero/tables";
import type { FolderFile } from "../walk-folder.js";
import { profileColumns } from "./profile-columns.js";
import { readXlsx } from "./read-xlsx.js";
import type { TableFile } from "./table-file.js";

/** Rows read and profiled per table; row counts still cover the whole file. */
export const SAMPLE_ROWS = 20_000;

/** Most tables read: past this, files are listed but not profiled. */
export const MAX_TABLES = 50;

/** A file to read as a table; `optional` files that turn out not to be tables are skipped instead of failing the task. */
export interface TableCandidate {
  file: FolderFile;
  format: TableFormat | "xlsx";
  optional: boolean;
}

const EXCEL_EXTENSIONS = new Set([".xlsx", ".xlsm"]);

/** Whether a file is an Excel workbook pandas reads (not the old binary .xls). */
export function isExcelFile(path: string): boolean {
  return EXCEL_EXTENSIONS.has(extname(path).toLowerCase());
}

/**
 * Reads and profiles up to {@link MAX_TABLES} tables, {@link SAMPLE_ROWS}
 * rows each. A file that claims to be a table but cannot be read fails the
 * task with the table reader's message, since a broken train or test file
 * cannot be worked around; an optional one (a .txt that might be prose, or a
 * one-column .txt) is left out.
 */
export async function readTables(candidates: readonly TableCandidate[]): Promise<TableFile[]> {
  const tables: TableFile[] = [];
  for (const { file, format, optional } of candidates.slice(0, MAX_TABLES)) {
    try {
      if (format === "xlsx") {
        const { table, sheet, sheets } = await readXlsx(file.absolutePath, file.path, SAMPLE_ROWS);
        tables.push({ file, table, columns: profileColumns(table), excel: { sheet, sheets } });
        continue;
      }
      const table = await readTable(file.absolutePath, { format, maxRows: SAMPLE_ROWS });
      if (optional && table.columns.length < 2) continue;
      tables.push({ file, table, columns: profileColumns(table) });
    } catch (error) {
      if (optional && error instanceof InvalidInputError) continue;
      throw error;
    }
  }
  return tables;
}
