import { InvalidInputError } from "@mlzero/errors";
import { ColumnType } from "@mlzero/proto";
import type { InferenceLog } from "../inference-log.js";
import { cellText, isMissing } from "../tabular/cell-values.js";
import { columnCells, usesNaStrings } from "../tabular/profile-columns.js";
import type { TableFile } from "../tabular/table-file.js";
import { frequencyOf, parseTimeStamp, type Frequency } from "./time-stamps.js";

/** The shape of a forecasting task in long format. */
export interface SeriesShape {
  timestamp: string;
  /** The column naming each series; undefined for a single series. */
  item?: string;
  /** undefined when the stamps are irregular: the program infers the step. */
  frequency?: Frequency;
  horizon: number;
  trainItems: number;
  forecastItems: number;
}

/** Words of a description that say the task is a forecast. */
const FORECAST_WORDS = /\btime[\s-]series\b|\bforecast(?:ing)?\s+(?:the\s+)?(?:next|future)\b|\bforecast(?:ing)?\s+horizon\b|\bhorizon\b/i;

/** Column name words that usually name the series a row belongs to. */
const ITEM_WORDS = new Set([
  "id",
  "item",
  "series",
  "store",
  "shop",
  "product",
  "sku",
  "sensor",
  "station",
  "region",
  "country",
  "unique",
  "key",
  "name",
  "code",
  "site",
  "meter",
  "building",
  "customer",
  "account",
]);

/** Share of the rows to predict that must lie after their series' history. */
const FUTURE_SHARE = 0.95;

/**
 * Whether a task is a forecast: the training rows are (item, time stamp,
 * value) in long format and the rows to predict are the same items' future.
 * It takes a year-first time stamp column both tables have, and the column
 * (if any) that with it makes every training row unique, the coarsest one
 * with an item-like name first; then it checks that nearly every row to
 * predict comes after its item's last training stamp (else the dates are
 * just a feature). A description that speaks of a time series or forecast
 * horizon turns a missing piece into an error instead of a tabular task.
 */
export function detectTimeSeries(
  train: TableFile,
  test: TableFile,
  label: string,
  description: string,
  log: InferenceLog,
): SeriesShape | undefined {
  const stated = FORECAST_WORDS.exec(description)?.[0];
  const fail = (why: string): undefined => {
    if (stated !== undefined) throw new InvalidInputError(`the description speaks of a forecast ("${stated}") but ${why}`);
    return undefined;
  };
  const labelType = train.columns.find((column) => column.name === label)?.type;
  if (labelType !== ColumnType.INTEGER && labelType !== ColumnType.NUMERIC) {
    return fail(`the label column '${label}' of ${train.file.path} does not hold numbers`);
  }
  const shared = (column: string) => column !== label && test.table.columns.includes(column);
  const stamps = train.columns.filter((column) => column.type === ColumnType.DATETIME && shared(column.name)).map((column) => column.name);
  if (stamps.length === 0) {
    return fail(`no column of both ${train.file.path} and ${test.file.path} holds time stamps (e.g. 2024-03-01 or 2024-03-01 12:00)`);
  }
  let lastWhy = "";
  for (const timestamp of stamps) {
    const trainTimes = times(train, timestamp);
    const testTimes = times(test, timestamp);
    if (trainTimes.some((time) => time === undefined) || testTimes.some((time) => time === undefined)) {
      lastWhy = `time stamps in '${timestamp}' are missing or not year first (YYYY-MM-DD)`;
      continue;
    }
    const item = findItem(train, test, label, timestamp, trainTimes as number[]);
    if (item === null) {
      lastWhy = `no column together with '${timestamp}' tells the training rows apart (several rows per time stamp and no item column)`;
      continue;
    }
    const trainItems = item === undefined ? trainTimes.map(() => "") : columnCells(train.table, item).map(keyOf);
    const testItems = item === undefined ? testTimes.map(() => "") : columnCells(test.table, item).map(keyOf);
    const history = lastStamps(trainItems, trainTimes as number[]);
    const future = testItems.filter((key, row) => (history.get(key) ?? Number.NEGATIVE_INFINITY) < (testTimes[row] as number)).length;
    if (future < FUTURE_SHARE * testItems.length) {
      lastWhy = `only ${future} of ${testItems.length} rows of ${test.file.path} come after their ${item === undefined ? "series'" : `'${item}'`} last training time stamp`;
      continue;
    }
    const frequency = inferFrequency(trainItems, trainTimes as number[]);
    const shape: SeriesShape = {
      timestamp,
      ...(item === undefined ? {} : { item }),
      ...(frequency === undefined ? {} : { frequency }),
      horizon: horizonOf(testItems, testTimes as number[], history, frequency),
      trainItems: new Set(trainItems).size,
      forecastItems: new Set(testItems).size,
    };
    record(shape, train, test, log);
    return shape;
  }
  return fail(lastWhy);
}

function keyOf(cell: ReturnType<typeof columnCells>[number]): string {
  return cell === undefined ? "" : cellText(cell);
}

function times(file: TableFile, column: string): (number | undefined)[] {
  return columnCells(file.table, column).map(parseTimeStamp);
}

/**
 * The item column: undefined when the stamps alone are unique (one series),
 * null when no column makes (item, stamp) unique.
 */
function findItem(
  train: TableFile,
  test: TableFile,
  label: string,
  timestamp: string,
  stamps: readonly number[],
): string | null | undefined {
  if (new Set(stamps).size === stamps.length) return undefined;
  const naStrings = usesNaStrings(train.table);
  const candidates = train.columns
    .filter((column) => column.name !== label && column.name !== timestamp && test.table.columns.includes(column.name))
    .filter((column) => column.type === ColumnType.CATEGORICAL || column.type === ColumnType.INTEGER)
    .filter((column) => {
      const cells = columnCells(train.table, column.name);
      if (cells.some((cell) => isMissing(cell, naStrings))) return false;
      const pairs = new Set(cells.map((cell, row) => `${keyOf(cell)}\u0000${stamps[row]}`));
      return pairs.size === cells.length;
    });
  const named = (name: string) =>
    Number(
      name
        .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
        .toLowerCase()
        .split(/[^a-z0-9]+/)
        .some((word) => ITEM_WORDS.has(word)),
    );
  const [best] = candidates.sort((a, b) => named(b.name) - named(a.name) || Number(a.unique - b.unique) || a.name.localeCompare(b.name));
  return best?.name ?? null;
}

function lastStamps(items: readonly string[], stamps: readonly number[]): Map<string, number> {
  const last = new Map<string, number>();
  items.forEach((item, row) => last.set(item, Math.max(last.get(item) ?? Number.NEGATIVE_INFINITY, stamps[row]!)));
  return last;
}

/** The most common gap between an item's consecutive distinct stamps, as a frequency, when most gaps are that one. */
function inferFrequency(items: readonly string[], stamps: readonly number[]): Frequency | undefined {
  const byItem = new Map<string, number[]>();
  items.forEach((item, row) => {
    const series = byItem.get(item) ?? [];
    series.push(stamps[row]!);
    byItem.set(item, series);
  });
  const gaps = new Map<number, number>();
  let total = 0;
  for (const series of byItem.values()) {
    const sorted = [...new Set(series)].sort((a, b) => a - b);
    for (let index = 1; index < sorted.length; index++) {
      const gap = sorted[index]! - sorted[index - 1]!;
      gaps.set(gap, (gaps.get(gap) ?? 0) + 1);
      total++;
    }
  }
  // Calendar months and years vary in length: count gaps of 28-31 days (or 365-366) as one.
  const bucket = (gap: number) => {
    const days = gap / 86_400_000;
    return days >= 28 && days <= 31 ? 30 : days >= 89 && days <= 92 ? 91 : days >= 365 && days <= 366 ? 365 : days;
  };
  const buckets = new Map<number, { count: number; gap: number }>();
  for (const [gap, count] of gaps) {
    const key = bucket(gap);
    const found = buckets.get(key);
    buckets.set(key, { count: (found?.count ?? 0) + count, gap: found?.gap ?? gap });
  }
  const [common] = [...buckets.values()].sort((a, b) => b.count - a.count);
  if (common === undefined || common.count < 0.8 * total) return undefined;
  return frequencyOf(common.gap, stamps);
}

/** Steps to forecast: the furthest row to predict from its item's last stamp, in steps of the frequency (rows per item without one). */
function horizonOf(
  items: readonly string[],
  stamps: readonly number[],
  history: Map<string, number>,
  frequency: Frequency | undefined,
): number {
  let horizon = 0;
  const counts = new Map<string, Set<number>>();
  items.forEach((item, row) => {
    const time = stamps[row]!;
    counts.set(item, (counts.get(item) ?? new Set()).add(time));
    const last = history.get(item);
    if (frequency !== undefined && last !== undefined) {
      const steps = frequency.steps(last, time);
      if (Number.isFinite(steps)) horizon = Math.max(horizon, steps);
    }
  });
  return Math.max(horizon, ...[...counts.values()].map((set) => set.size), 1);
}

function record(shape: SeriesShape, train: TableFile, test: TableFile, log: InferenceLog): void {
  const history = train.file.path;
  log.add(
    "time_series.timestamp_column",
    shape.timestamp,
    `column '${shape.timestamp}' holds time stamps, and the rows of ${test.file.path} come after their series' last stamp in ${history}`,
  );
  log.add(
    "time_series.item_column",
    shape.item ?? "",
    shape.item === undefined
      ? `every time stamp of ${history} appears once: a single series`
      : `'${shape.item}' and '${shape.timestamp}' together tell every row of ${history} apart: ${shape.trainItems} series`,
  );
  log.add(
    "time_series.frequency",
    shape.frequency?.alias ?? "",
    shape.frequency === undefined
      ? "the gaps between consecutive time stamps vary; the program infers the step"
      : `consecutive time stamps of a series are mostly one ${shape.frequency.alias} step apart`,
  );
  log.add(
    "time_series.horizon",
    String(shape.horizon),
    `${test.file.path} reaches ${shape.horizon} step${shape.horizon === 1 ? "" : "s"} past the last training stamp, for ${shape.forecastItems} series`,
  );
}
