import { create } from "@bufbuild/protobuf";
import { ColumnProfileSchema, ColumnType, type ColumnProfile } from "@mlzero/proto";
import type { Cell, Table } from "@mlzero/tables";
import { asBoolean, asNumber, cellText, isMissing } from "./cell-values.js";
import { inferColumnType } from "./column-type.js";

/** Distinct example values kept per column. */
const EXAMPLES = 5;
/** Longest example kept, in characters: examples illustrate, they do not carry data. */
const EXAMPLE_CHARS = 80;

/** Whether a table's text cells follow CSV conventions, where "NA" and "null" mean missing. */
export function usesNaStrings(table: Table): boolean {
  return table.format === "csv" || table.format === "tsv";
}

/** The column's cells, in row order. */
export function columnCells(table: Table, column: string): Cell[] {
  const index = table.columns.indexOf(column);
  return index < 0 ? [] : table.rows.map((row) => row[index]);
}

/**
 * Profiles every column of a table from the rows read (a sample of a large
 * file): type, missing and distinct counts, examples, and for numbers their
 * range and mean.
 */
export function profileColumns(table: Table): ColumnProfile[] {
  const naStrings = usesNaStrings(table);
  return table.columns.map((name, index) => {
    const present = table.rows.map((row) => row[index]).filter((cell): cell is Exclude<Cell, undefined> => !isMissing(cell, naStrings));
    const texts = [...new Set(present.map(cellText))];
    const type = inferColumnType(present, texts.length);
    const examples = texts.slice(0, EXAMPLES).map((text) => (text.length > EXAMPLE_CHARS ? `${text.slice(0, EXAMPLE_CHARS)}…` : text));
    const profile = create(ColumnProfileSchema, {
      name,
      type,
      missing: BigInt(table.rows.length - present.length),
      unique: BigInt(texts.length),
      examples,
    });
    if (type === ColumnType.BOOLEAN) {
      profile.unique = BigInt(new Set(present.map(asBoolean)).size);
    }
    if (type === ColumnType.NUMERIC || type === ColumnType.INTEGER) {
      const numbers = present.map((cell) => asNumber(cell) ?? Number.NaN);
      profile.unique = BigInt(new Set(numbers).size);
      const finite = numbers.filter(Number.isFinite);
      if (finite.length > 0) {
        profile.min = finite.reduce((a, b) => Math.min(a, b));
        profile.max = finite.reduce((a, b) => Math.max(a, b));
        profile.mean = finite.reduce((a, b) => a + b, 0) / finite.length;
      }
    }
    return profile;
  });
}
