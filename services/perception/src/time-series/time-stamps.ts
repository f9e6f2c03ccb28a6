import type { Cell } from "@mlzero/tables";

const YEAR_FIRST = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$/;

/**
 * A year-first time stamp ("2024-03-01", "2024/03/01 14:00", ISO 8601) as
 * milliseconds of its wall-clock time read as UTC, so days and months step
 * evenly; `undefined` for anything else. Year-last dates are ambiguous (day
 * or month first) and are left to the program's parser.
 */
export function parseTimeStamp(cell: Cell): number | undefined {
  if (typeof cell !== "string") return undefined;
  const match = YEAR_FIRST.exec(cell.trim());
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map((part) => Number(part ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const time = Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(time);
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day ? time : undefined;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/** One step of a regular series: a pandas offset alias and how to count steps between two stamps. */
export interface Frequency {
  alias: string;
  /** Whole steps from `from` to `to` (stamps on the grid), or NaN when `to` is off it. */
  steps(from: number, to: number): number;
}

/**
 * The frequency of series whose consecutive stamps are mostly `gap` apart,
 * as a pandas offset alias: "D", "3D", "W-SUN" (weeks ending on the stamps'
 * weekday), "h", "15min", "s", "MS"/"ME", "QS"/"QE", "YS"/"YE" for month,
 * quarter and year starts or ends. `undefined` when the calendar steps do
 * not line up (e.g. monthly stamps on the 15th).
 */
export function frequencyOf(gap: number, stamps: readonly number[]): Frequency | undefined {
  const days = gap / DAY_MS;
  const month = (time: number) => new Date(time).getUTCFullYear() * 12 + new Date(time).getUTCMonth();
  const monthly = (alias: string, months: number): Frequency => ({
    alias,
    steps: (from, to) => {
      const difference = month(to) - month(from);
      return difference % months === 0 ? difference / months : Number.NaN;
    },
  });
  const fixed = (alias: string): Frequency => ({
    alias,
    steps: (from, to) => ((to - from) % gap === 0 ? (to - from) / gap : Number.NaN),
  });
  const starts = stamps.every((time) => new Date(time).getUTCDate() === 1 && time % DAY_MS === 0);
  const ends = stamps.every((time) => new Date(time + DAY_MS).getUTCDate() === 1 && time % DAY_MS === 0);
  if (days >= 28 && days <= 31) return starts ? monthly("MS", 1) : ends ? monthly("ME", 1) : undefined;
  if (days >= 89 && days <= 92) return starts ? monthly("QS", 3) : ends ? monthly("QE", 3) : undefined;
  if (days >= 365 && days <= 366) return starts ? monthly("YS", 12) : ends ? monthly("YE", 12) : undefined;
  if (days === 7) {
    const weekday = new Date(stamps[0] ?? 0).getUTCDay();
    return stamps.every((time) => new Date(time).getUTCDay() === weekday) ? fixed(`W-${WEEKDAYS[weekday]}`) : undefined;
  }
  if (Number.isInteger(days)) return fixed(days === 1 ? "D" : `${days}D`);
  const hours = gap / HOUR_MS;
  if (Number.isInteger(hours)) return fixed(hours === 1 ? "h" : `${hours}h`);
  const minutes = gap / 60_000;
  if (Number.isInteger(minutes)) return fixed(minutes === 1 ? "min" : `${minutes}min`);
  const seconds = gap / 1000;
  if (Number.isInteger(seconds)) return fixed(seconds === 1 ? "s" : `${seconds}s`);
  return undefined;
}
