import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readTable, type Cell, type Table } from "@mlzero/tables";
import { DERIVED_DIR } from "@mlzero/workspace";
import { cellText } from "./tabular/cell-values.js";
import { readXlsx } from "./tabular/read-xlsx.js";
import type { TableFile } from "./tabular/table-file.js";

/** A side table's columns to add to each row of a main table, by key. */
export interface TableJoinPlan {
  side: TableFile;
  key: string;
  columns: readonly string[];
}

/**
 * Writes a table for the programs to read as CSV under
 * `<taskDir>/derived/<name>`, atomically (a restarted perception writes the
 * same bytes again), and returns its path relative to the task folder.
 */
export async function writeDerivedTable(
  taskDir: string,
  name: string,
  columns: readonly string[],
  rows: readonly Cell[][],
): Promise<string> {
  const folder = join(taskDir, DERIVED_DIR);
  await mkdir(folder, { recursive: true });
  const target = join(folder, name);
  const partial = `${target}.partial-${process.pid}`;
  try {
    await writeFile(partial, toCsv(columns, rows));
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return `${DERIVED_DIR}/${name}`;
}

/** Every row of a table file, not just the sample perception profiled. */
export async function readWholeTable(file: TableFile): Promise<Table> {
  if (file.table.rows.length === file.table.totalRows) return file.table;
  if (file.excel !== undefined) return (await readXlsx(file.file.absolutePath, file.file.path)).table;
  return readTable(file.file.absolutePath, { format: file.table.format });
}

/**
 * A main table with the join's columns added (a left join: a key the side
 * table lacks gives missing values), as the columns and rows to write.
 */
export async function joinTables(main: TableFile, joins: readonly TableJoinPlan[]): Promise<{ columns: string[]; rows: Cell[][] }> {
  const table = await readWholeTable(main);
  const columns = [...table.columns];
  let rows = table.rows;
  for (const join of joins) {
    const side = await readWholeTable(join.side);
    const keyIndex = side.columns.indexOf(join.key);
    const picked = join.columns.map((column) => side.columns.indexOf(column));
    const byKey = new Map(side.rows.map((row) => [keyText(row[keyIndex]), picked.map((index) => row[index])]));
    const mainKey = columns.indexOf(join.key);
    const empty = picked.map((): Cell => undefined);
    rows = rows.map((row) => [...row, ...(byKey.get(keyText(row[mainKey])) ?? empty)]);
    columns.push(...join.columns);
  }
  return { columns, rows };
}

function keyText(cell: Cell): string {
  return cell === undefined ? "\u0000missing" : cellText(cell);
}

/** CSV as pandas reads it back: quoted when needed, booleans True/False, missing cells blank. */
function toCsv(columns: readonly string[], rows: readonly Cell[][]): string {
  const field = (cell: Cell): string => {
    if (cell === undefined) return "";
    const text = cellText(cell);
    return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const lines = [columns.map(field), ...rows.map((row) => columns.map((_, index) => field(row[index])))];
  return lines.map((line) => line.join(",")).join("\n") + "\n";
}
