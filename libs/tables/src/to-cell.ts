import type { Cell } from "./table.js";

/**
 * Turns a decoded JSON or Parquet value into a cell: nulls and NaN become
 * missing, bigints and dates become numbers and ISO text, and anything nested
 * becomes its JSON text so no information is dropped.
 */
export function toCell(value: unknown): Cell {
  if (value === null || value === undefined) return undefined;
  if (typeof value === "number") return Number.isNaN(value) ? undefined : value;
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  return JSON.stringify(value, (_key, nested: unknown) => (typeof nested === "bigint" ? Number(nested) : nested));
}
