import { isPandasNaText, type Cell } from "@mlzero/tables";

const INFINITE = /^[+-]?(inf|infinity)$/i;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** True for a blank cell or one pandas reads as NaN. */
export function isMissingCell(cell: Cell): boolean {
  return cell === undefined || (typeof cell === "number" && Number.isNaN(cell)) || (typeof cell === "string" && isPandasNaText(cell));
}

/** True for a cell that reads as positive or negative infinity. */
export function isInfiniteCell(cell: Cell): boolean {
  return (
    (typeof cell === "number" && !Number.isFinite(cell) && !Number.isNaN(cell)) || (typeof cell === "string" && INFINITE.test(cell.trim()))
  );
}

/** The cell as a finite number, or undefined when it is not one. */
export function finiteNumber(cell: Cell): number | undefined {
  if (typeof cell === "number") return Number.isFinite(cell) ? cell : undefined;
  if (typeof cell === "string" && NUMBER.test(cell.trim())) return Number(cell.trim());
  return undefined;
}

/**
 * A comparable text form of a cell. Numbers are written canonically because
 * pandas round-trips integer ids and labels through floats ("7" and "7.0"
 * are the same id to a grader that reads both files with pandas); booleans
 * as pandas writes them.
 */
export function cellKey(cell: Cell): string {
  if (cell === undefined) return "";
  if (typeof cell === "boolean") return cell ? "True" : "False";
  const number = finiteNumber(cell);
  return number === undefined ? String(cell).trim() : String(number);
}
