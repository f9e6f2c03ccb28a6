import type { ColumnProfile } from "@mlzero/proto";
import type { Table } from "@mlzero/tables";
import type { FolderFile } from "../walk-folder.js";

/** A data file read as a table, with its columns profiled. */
export interface TableFile {
  file: FolderFile;
  table: Table;
  columns: ColumnProfile[];
  /** Set for an Excel workbook, read from its first sheet: programs read it as a derived CSV. */
  excel?: { sheet: string; sheets: string[] };
}

/** Columns of `a` that `b` does not have, in `a`'s order. */
export function columnsMissingFrom(a: TableFile, b: TableFile): string[] {
  const other = new Set(b.table.columns);
  return a.table.columns.filter((column) => !other.has(column));
}

/** Whether every column of `b` is in `a` and `a` has at least one more. */
export function isStrictSuperset(a: TableFile, b: TableFile): boolean {
  return columnsMissingFrom(b, a).length === 0 && columnsMissingFrom(a, b).length > 0;
}

/** A list of names for a message: 'a', 'b' and 'c'. */
export function quoteList(names: readonly string[]): string {
  const quoted = names.map((name) => `'${name}'`);
  return quoted.length <= 1 ? (quoted[0] ?? "") : `${quoted.slice(0, -1).join(", ")} and ${quoted.at(-1)}`;
}
