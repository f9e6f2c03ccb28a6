import type { Cell } from "@mlzero/tables";
import { ColumnType } from "@mlzero/proto";
import { asBoolean, asNumber, isInteger } from "./cell-values.js";

/** Text columns average at least this many words per value... */
export const TEXT_MIN_MEAN_WORDS = 3;
/** ...and most of their values differ (share of distinct among present values). */
export const TEXT_MIN_DISTINCT_SHARE = 0.5;
/** Any column whose values average this many characters is text, whatever its repetition. */
export const TEXT_MIN_MEAN_CHARS = 50;

const YEAR_FIRST = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const YEAR_LAST = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?: \d{1,2}:\d{2}(?::\d{2})?)?$/;

/** Whether text is a calendar date (with an optional time), year first or, day and month either way round, year last. */
function isDate(value: string): boolean {
  const yearFirst = YEAR_FIRST.exec(value);
  if (yearFirst !== null) return isMonth(Number(yearFirst[2])) && isDay(Number(yearFirst[3]));
  const yearLast = YEAR_LAST.exec(value);
  if (yearLast === null) return false;
  const [a, b] = [Number(yearLast[1]), Number(yearLast[2])];
  return (isMonth(a) && isDay(b)) || (isDay(a) && isMonth(b));
}

function isMonth(value: number): boolean {
  return value >= 1 && value <= 12;
}

function isDay(value: number): boolean {
  return value >= 1 && value <= 31;
}

/**
 * What a column holds, from its present (non-missing) values: all booleans
 * → BOOLEAN; all numbers → INTEGER when whole, else NUMERIC; all dates →
 * DATETIME; otherwise TEXT when values are long and mostly distinct (see the
 * thresholds above), else CATEGORICAL. A column with no values is
 * CATEGORICAL: nothing says otherwise, and it carries no signal.
 */
export function inferColumnType(present: readonly Exclude<Cell, undefined>[], distinct: number): ColumnType {
  if (present.length === 0) return ColumnType.CATEGORICAL;
  if (present.every((cell) => asBoolean(cell) !== undefined)) return ColumnType.BOOLEAN;
  if (present.every((cell) => asNumber(cell) !== undefined)) {
    return present.every(isInteger) ? ColumnType.INTEGER : ColumnType.NUMERIC;
  }
  const texts = present.map((cell) => String(cell).trim());
  if (texts.every(isDate)) return ColumnType.DATETIME;
  const meanChars = texts.reduce((sum, text) => sum + text.length, 0) / texts.length;
  const meanWords = texts.reduce((sum, text) => sum + text.split(/\s+/).filter((w) => w !== "").length, 0) / texts.length;
  const distinctShare = distinct / present.length;
  if (meanChars >= TEXT_MIN_MEAN_CHARS || (meanWords >= TEXT_MIN_MEAN_WORDS && distinctShare >= TEXT_MIN_DISTINCT_SHARE)) {
    return ColumnType.TEXT;
  }
  return ColumnType.CATEGORICAL;
}
