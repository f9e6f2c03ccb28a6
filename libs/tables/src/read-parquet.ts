import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { tableFileError } from "./table-file-error.js";
import type { Table } from "./table.js";
import { toCell } from "./to-cell.js";

/** Columns pyarrow adds to hold a pandas index; pandas reads them back as the index, not as data. */
const PANDAS_INDEX = /^__index_level_\d+__$/;

/**
 * Reads a Parquet file's first `maxRows` rows. The decompressors cover the
 * codecs pyarrow and Spark write (snappy, gzip, zstd, brotli, lz4); the row
 * count comes from the footer, so it is exact at no cost.
 */
export async function readParquet(filePath: string, maxRows: number): Promise<Table> {
  try {
    const file = await asyncBufferFromFile(filePath);
    const metadata = await parquetMetadataAsync(file);
    const columns = parquetSchema(metadata)
      .children.map((child) => child.element.name)
      .filter((name) => !PANDAS_INDEX.test(name));
    const totalRows = Number(metadata.num_rows);
    const objects = await parquetReadObjects({
      file,
      metadata,
      columns,
      rowStart: 0,
      rowEnd: Math.min(maxRows, totalRows),
      compressors,
    });
    const rows = objects.map((object) => columns.map((column) => toCell(object[column])));
    return { format: "parquet", columns, rows, totalRows };
  } catch (error) {
    throw tableFileError(filePath, "is not a readable Parquet file", error);
  }
}
