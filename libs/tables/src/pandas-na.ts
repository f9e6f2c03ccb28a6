/**
 * Texts pandas reads as missing by default (read_csv's na_values), plus the
 * blank cell. Perception and the analyzer share it so both see a table as
 * the generated Python program does.
 */
const PANDAS_NA_TEXTS = new Set([
  "",
  "#N/A",
  "#N/A N/A",
  "#NA",
  "-1.#IND",
  "-1.#QNAN",
  "-NaN",
  "-nan",
  "1.#IND",
  "1.#QNAN",
  "<NA>",
  "N/A",
  "NA",
  "NULL",
  "NaN",
  "None",
  "n/a",
  "nan",
  "null",
]);

/** Whether pandas would read this text (trimmed) as a missing value. */
export function isPandasNaText(text: string): boolean {
  return PANDAS_NA_TEXTS.has(text.trim());
}
