import { createReadStream } from "node:fs";
import { CsvError, parse } from "csv-parse";
import { normalizeColumnNames } from "./column-names.js";
import { countDelimitedRecords } from "./count-delimited-records.js";
import { sniffDelimiter } from "./sniff-delimiter.js";
import { tableFileError } from "./table-file-error.js";
import type { Cell, Table } from "./table.js";

/** Options for {@link readDelimited}. */
export interface ReadDelimitedOptions {
  format: "csv" | "tsv";
  /** The decoded start of the file, already checked to be text. */
  head: string;
  /** Whether `head` is the whole file. */
  complete: boolean;
  maxRows: number;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * Reads a CSV or TSV file with a header row. Cells stay text, blank cells are
 * missing: deciding what a column holds is the caller's job. Quotes inside an
 * unquoted field are kept as text, as pandas does, because real files
 * (`12" screen`) have them.
 */
export async function readDelimited(filePath: string, options: ReadDelimitedOptions): Promise<Table> {
  const delimiter = options.format === "tsv" ? "\t" : sniffDelimiter(options.head, options.complete);
  const source = createReadStream(filePath);
  const parser = source.pipe(parse({ bom: true, delimiter, relax_quotes: true, skip_empty_lines: true }));
  let header: string[] | undefined;
  const rows: Cell[][] = [];
  let truncated = false;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (header === undefined) {
        header = record;
        continue;
      }
      if (rows.length === options.maxRows) {
        truncated = true;
        break;
      }
      rows.push(record.map((value) => (value.trim() === "" ? undefined : value)));
    }
  } catch (error) {
    throw tableFileError(filePath, describeCsvError(error, options.format, header?.length), error);
  } finally {
    source.destroy();
    parser.destroy();
  }
  if (header === undefined) throw tableFileError(filePath, "is empty");
  if (header.every((name) => NUMBER.test(name.trim()))) {
    throw tableFileError(filePath, "has no header row (its first line holds values, not column names)");
  }
  const totalRows = truncated ? (await countDelimitedRecords(filePath, delimiter)) - 1 : rows.length;
  return { format: options.format, columns: normalizeColumnNames(header), rows, totalRows, delimiter };
}

/** One line for the user, from the parser's error codes, never its raw text. */
function describeCsvError(error: unknown, format: "csv" | "tsv", headerFields: number | undefined): string {
  const kind = format.toUpperCase();
  if (!(error instanceof CsvError)) return `could not be read as ${kind}`;
  const line = typeof error.lines === "number" ? ` at line ${error.lines}` : "";
  switch (error.code) {
    case "CSV_RECORD_INCONSISTENT_FIELDS_LENGTH": {
      const got = Array.isArray(error.record) ? error.record.length : undefined;
      const counts = got === undefined || headerFields === undefined ? "" : ` (${got} fields, header has ${headerFields})`;
      return `is not a valid ${kind} table: a row has a different number of fields than the header${line}${counts}`;
    }
    case "CSV_QUOTE_NOT_CLOSED":
      return `is not a valid ${kind} table: a quoted field is never closed${line}`;
    case "CSV_INVALID_CLOSING_QUOTE":
    case "CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE":
      return `is not a valid ${kind} table: unexpected text after a closing quote${line}`;
    case "CSV_MAX_RECORD_SIZE":
      return `is not a valid ${kind} table: a row is too large${line}`;
    default:
      return `is not a valid ${kind} table${line}`;
  }
}
