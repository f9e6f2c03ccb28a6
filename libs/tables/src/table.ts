/** The table file formats mlzero reads. */
export type TableFormat = "csv" | "tsv" | "json" | "jsonl" | "parquet";

/** Every table format, in the order they are described to users. */
export const TABLE_FORMATS: readonly TableFormat[] = ["csv", "tsv", "json", "jsonl", "parquet"];

/** One value of a table; `undefined` means missing. */
export type Cell = string | number | boolean | undefined;

/** A table read from a file: a header and rows of cells. */
export interface Table {
  format: TableFormat;
  /** Column names, unique; blank and repeated header names are renamed as pandas does ("Unnamed: 2", "x.1"). */
  columns: string[];
  /** Rows in file order, at most `maxRows` of them; `row[i]` aligns with `columns[i]`. */
  rows: Cell[][];
  /** Data rows in the whole file, counted even when `rows` stops at `maxRows`. */
  totalRows: number;
  /** The field separator of a CSV or TSV file, sniffed for CSV. */
  delimiter?: string;
}

/** Options for {@link readTable}. */
export interface ReadTableOptions {
  /** The file's format; detected from its extension when left out. */
  format?: TableFormat;
  /** Read at most this many data rows (the rest are only counted). */
  maxRows?: number;
}
