import { isPandasNaText, type Cell } from "@mlzero/tables";

/** Whether a cell is missing; `naStrings` adds pandas' missing-value texts (for CSV and TSV cells). */
export function isMissing(cell: Cell, naStrings: boolean): cell is undefined {
  return cell === undefined || (naStrings && typeof cell === "string" && isPandasNaText(cell));
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$|^[+-]?inf(?:inity)?$/i;
const INTEGER = /^[+-]?\d+$/;
const BOOLEAN = /^(?:true|false)$/i;

/** The cell as a number when it is one or is text that pandas would read as one. */
export function asNumber(cell: Cell): number | undefined {
  if (typeof cell === "number") return cell;
  if (typeof cell === "string" && NUMBER.test(cell.trim())) {
    const text = cell
      .trim()
      .toLowerCase()
      .replace(/^([+-]?)inf(?:inity)?$/, "$1Infinity");
    return Number(text);
  }
  return undefined;
}

/** Whether the cell is a whole number as pandas would read it ("3" is, "3.0" is a float). */
export function isInteger(cell: Cell): boolean {
  if (typeof cell === "number") return Number.isInteger(cell);
  return typeof cell === "string" && INTEGER.test(cell.trim());
}

/** The cell as a boolean when it is one or is text pandas reads as one ("True", "false"). */
export function asBoolean(cell: Cell): boolean | undefined {
  if (typeof cell === "boolean") return cell;
  if (typeof cell === "string" && BOOLEAN.test(cell.trim())) return cell.trim().toLowerCase() === "true";
  return undefined;
}

/** A cell as text, booleans spelled as Python prints them, since that is how predictions files will spell them. */
export function cellText(cell: Exclude<Cell, undefined>): string {
  if (typeof cell === "boolean") return cell ? "True" : "False";
  return String(cell);
}
