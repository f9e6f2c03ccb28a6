import { isMissing, cellText } from "./cell-values.js";
import { columnCells, usesNaStrings } from "./profile-columns.js";
import type { TableFile } from "./table-file.js";

/** A table of extra columns for the main rows, matched on one shared key column. */
export interface SideTable {
  table: TableFile;
  key: string;
  /** The columns it adds (all but the key). */
  columns: string[];
  /** Share of the training rows (read) whose key the side table has. */
  coverage: number;
}

/** Least share of training rows a side table must match to be joined. */
export const MIN_COVERAGE = 0.5;

/**
 * The tables that extend the training and test rows: each shares exactly
 * one column (the key) with both, holds one row per key value, and has a
 * row for at least half of the training rows' keys. Tables whose columns
 * another side table already adds are skipped, so no column comes twice.
 * `main` are the tables that already have a role (train, test, submission).
 */
export function findSideTables(
  tables: readonly TableFile[],
  main: readonly TableFile[],
  train: TableFile,
  test: TableFile,
  label: string,
): SideTable[] {
  const found: SideTable[] = [];
  const taken = new Set([...train.table.columns, ...test.table.columns]);
  for (const table of tables) {
    if (main.includes(table)) continue;
    const shared = table.table.columns.filter((column) => train.table.columns.includes(column));
    const key = shared[0];
    if (shared.length !== 1 || key === undefined || key === label || !test.table.columns.includes(key)) continue;
    const keys = columnCells(table.table, key);
    const naStrings = usesNaStrings(table.table);
    if (keys.some((cell) => isMissing(cell, naStrings))) continue;
    const values = new Set(keys.map((cell) => cellText(cell!)));
    if (values.size !== keys.length) continue;
    const trainKeys = columnCells(train.table, key);
    const coverage = trainKeys.filter((cell) => cell !== undefined && values.has(cellText(cell))).length / Math.max(1, trainKeys.length);
    const columns = table.table.columns.filter((column) => column !== key);
    if (coverage < MIN_COVERAGE || columns.length === 0 || columns.some((column) => taken.has(column))) continue;
    columns.forEach((column) => taken.add(column));
    found.push({ table, key, columns, coverage });
  }
  return found;
}
