import { readFile, stat } from "node:fs/promises";
import { InvalidInputError } from "@mlzero/errors";
import type { Cell, Table } from "@mlzero/tables";
import { zipEntries, type ZipEntry } from "./zip-entries.js";

/** Largest workbook read: the whole archive is held in memory. */
export const MAX_WORKBOOK_BYTES = 256 * 2 ** 20;
/** Largest sheet, uncompressed. */
const MAX_PART_BYTES = 1024 * 2 ** 20;

/** A workbook's first sheet as a table, and the names of every sheet. */
export interface Workbook {
  table: Table;
  sheet: string;
  sheets: string[];
}

/**
 * Reads the first sheet of an Excel workbook (.xlsx, .xlsm) as a table the
 * way pandas.read_excel does: the first non-empty row is the header, blank
 * rows are skipped, numbers stay numbers, cells formatted as dates become
 * ISO text ("2024-03-01", "2024-03-01 12:30:00"), TRUE/FALSE booleans,
 * error cells missing. At most `maxRows` rows are kept; all are counted.
 * The table's format is "csv" because it is written out as CSV for the
 * programs, whose reader then sees the same cells.
 */
export async function readXlsx(path: string, what: string, maxRows = Number.POSITIVE_INFINITY): Promise<Workbook> {
  const size = (await stat(path)).size;
  if (size > MAX_WORKBOOK_BYTES) {
    throw new InvalidInputError(`${what} is larger than ${MAX_WORKBOOK_BYTES / 2 ** 20} MiB: save its sheet as CSV`);
  }
  const entries = zipEntries(await readFile(path), what);
  const text = (name: string): string | undefined => entries.get(name)?.read(MAX_PART_BYTES).toString("utf8");
  const workbook = text("xl/workbook.xml");
  if (workbook === undefined) throw new InvalidInputError(`${what} is not an Excel workbook: it has no xl/workbook.xml`);
  const sheets = [...workbook.matchAll(/<(?:\w+:)?sheet\b([^>]*?)\/?>/g)].map((match) => ({
    name: decodeXml(attribute(match[1] ?? "", "name") ?? ""),
    relation: attribute(match[1] ?? "", "r:id") ?? attribute(match[1] ?? "", "id") ?? "",
  }));
  const first = sheets[0];
  if (first === undefined) throw new InvalidInputError(`${what} has no sheets`);
  const sheetXml = text(sheetPath(text("xl/_rels/workbook.xml.rels") ?? "", first.relation));
  if (sheetXml === undefined) throw new InvalidInputError(`${what}: the sheet '${first.name}' is missing from the workbook`);
  const date1904 = /<(?:\w+:)?workbookPr\b[^>]*\bdate1904="(?:1|true)"/.test(workbook);
  const cells = readSheet(sheetXml, sharedStrings(entries), dateStyles(text("xl/styles.xml") ?? ""), date1904);
  const table = toTable(cells, maxRows);
  if (table.columns.length === 0) throw new InvalidInputError(`${what}: the sheet '${first.name}' is empty`);
  return { table, sheet: first.name, sheets: sheets.map((sheet) => sheet.name) };
}

function attribute(attributes: string, name: string): string | undefined {
  return new RegExp(`(?:^|\\s)${name.replace(":", "\\:")}="([^"]*)"`).exec(attributes)?.[1];
}

/** The sheet part a workbook relation points at, as a member name ("xl/worksheets/sheet1.xml"). */
function sheetPath(relations: string, id: string): string {
  for (const match of relations.matchAll(/<(?:\w+:)?Relationship\b([^>]*?)\/?>/g)) {
    if (attribute(match[1] ?? "", "Id") !== id) continue;
    const target = attribute(match[1] ?? "", "Target") ?? "";
    return target.startsWith("/") ? target.slice(1) : `xl/${target}`;
  }
  return "xl/worksheets/sheet1.xml";
}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function decodeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (whole, name: string) => {
    if (name.startsWith("#x") || name.startsWith("#X")) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith("#")) return String.fromCodePoint(Number(name.slice(1)));
    return ENTITIES[name] ?? whole;
  });
}

/** The text of a string item: its runs joined, phonetic hints (rPh) left out. */
function itemText(xml: string): string {
  const plain = xml.replace(/<(?:\w+:)?rPh\b[\s\S]*?<\/(?:\w+:)?rPh>/g, "");
  return [...plain.matchAll(/<(?:\w+:)?t\b[^>]*>([\s\S]*?)<\/(?:\w+:)?t>/g)].map((match) => decodeXml(match[1] ?? "")).join("");
}

function sharedStrings(entries: Map<string, ZipEntry>): string[] {
  const xml = entries.get("xl/sharedStrings.xml")?.read(MAX_PART_BYTES).toString("utf8") ?? "";
  return [...xml.matchAll(/<(?:\w+:)?si\b[^>]*>([\s\S]*?)<\/(?:\w+:)?si>|<(?:\w+:)?si\s*\/>/g)].map((match) => itemText(match[1] ?? ""));
}

/** Built-in number formats that show dates or times. */
const DATE_FORMAT_IDS = new Set([14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47]);

/** Which cell styles (indexes into cellXfs) format numbers as dates. */
function dateStyles(styles: string): Set<number> {
  const custom = new Map<number, string>();
  for (const match of styles.matchAll(/<(?:\w+:)?numFmt\b([^>]*?)\/?>/g)) {
    custom.set(Number(attribute(match[1] ?? "", "numFmtId")), decodeXml(attribute(match[1] ?? "", "formatCode") ?? ""));
  }
  const isDate = (id: number) => {
    if (DATE_FORMAT_IDS.has(id)) return true;
    const code = custom.get(id);
    if (code === undefined || /^general$/i.test(code)) return false;
    // Quoted text, escaped characters and [colour] or [$-locale] parts are not date tokens.
    return /[dmyhs]/i.test(code.replace(/"[^"]*"|\\.|\[[^\]]*\]/g, ""));
  };
  const found = new Set<number>();
  const xfs = /<(?:\w+:)?cellXfs\b[^>]*>([\s\S]*?)<\/(?:\w+:)?cellXfs>/.exec(styles)?.[1] ?? "";
  [...xfs.matchAll(/<(?:\w+:)?xf\b([^>]*?)\/?>/g)].forEach((match, index) => {
    if (isDate(Number(attribute(match[1] ?? "", "numFmtId") ?? 0))) found.add(index);
  });
  return found;
}

/** Column index of a cell reference: "A1" → 0, "AB7" → 27. */
function columnIndex(reference: string): number | undefined {
  const letters = /^([A-Z]+)\d*$/i.exec(reference)?.[1];
  if (letters === undefined) return undefined;
  return [...letters.toUpperCase()].reduce((index, letter) => index * 26 + letter.charCodeAt(0) - 64, 0) - 1;
}

const DAY_MS = 86_400_000;
/** Day 0 of Excel's 1900 date system (its 1900 leap-year bug makes it 30 December 1899). */
const EPOCH_1900 = Date.UTC(1899, 11, 30);
const EPOCH_1904 = Date.UTC(1904, 0, 1);

function excelDate(serial: number, date1904: boolean): string {
  const time = new Date((date1904 ? EPOCH_1904 : EPOCH_1900) + Math.round(serial * DAY_MS));
  const iso = time.toISOString();
  return serial % 1 === 0 ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

/** The sheet's non-empty rows as cells, in order. */
function readSheet(xml: string, strings: readonly string[], dates: ReadonlySet<number>, date1904: boolean): Cell[][] {
  const rows: Cell[][] = [];
  for (const row of xml.matchAll(/<(?:\w+:)?row\b[^>]*?(?:\/>|>([\s\S]*?)<\/(?:\w+:)?row>)/g)) {
    const cells: Cell[] = [];
    let next = 0;
    for (const cell of (row[1] ?? "").matchAll(/<(?:\w+:)?c\b([^>]*?)(?:\/>|>([\s\S]*?)<\/(?:\w+:)?c>)/g)) {
      const attributes = cell[1] ?? "";
      const index = columnIndex(attribute(attributes, "r") ?? "") ?? next;
      next = index + 1;
      const value = cellValue(attributes, cell[2] ?? "", strings, dates, date1904);
      if (value !== undefined) cells[index] = value;
    }
    if (cells.some((cell) => cell !== undefined)) rows.push(Array.from(cells, (cell) => cell));
  }
  return rows;
}

function cellValue(attributes: string, body: string, strings: readonly string[], dates: ReadonlySet<number>, date1904: boolean): Cell {
  const type = attribute(attributes, "t") ?? "n";
  if (type === "inlineStr") return blankToMissing(itemText(/<(?:\w+:)?is\b[^>]*>([\s\S]*?)<\/(?:\w+:)?is>/.exec(body)?.[1] ?? ""));
  const raw = /<(?:\w+:)?v\b[^>]*>([\s\S]*?)<\/(?:\w+:)?v>/.exec(body)?.[1];
  if (raw === undefined) return undefined;
  const value = decodeXml(raw);
  switch (type) {
    case "s":
      return blankToMissing(strings[Number(value)] ?? "");
    case "str":
    case "d":
      return blankToMissing(value);
    case "b":
      return value === "1" || value.toLowerCase() === "true";
    case "e":
      return undefined;
    default: {
      const number = Number(value);
      if (!Number.isFinite(number)) return undefined;
      return dates.has(Number(attribute(attributes, "s") ?? 0)) ? excelDate(number, date1904) : number;
    }
  }
}

function blankToMissing(text: string): Cell {
  return text.trim() === "" ? undefined : text;
}

/** Header and data rows, named as pandas names them ("Unnamed: 2" for a blank header, "x.1" for a repeat). */
function toTable(rows: Cell[][], maxRows: number): Table {
  const [header = [], ...data] = rows;
  const width = Math.max(header.length, 0);
  const taken = new Set<string>();
  const columns = Array.from({ length: width }, (_, index) => {
    const cell = header[index];
    const base = cell === undefined ? `Unnamed: ${index}` : typeof cell === "boolean" ? (cell ? "True" : "False") : String(cell);
    let name = base;
    for (let suffix = 1; taken.has(name); suffix++) name = `${base}.${suffix}`;
    taken.add(name);
    return name;
  });
  const kept = data.slice(0, maxRows).map((row) => Array.from({ length: width }, (_, index) => row[index]));
  return { format: "csv", columns, rows: kept, totalRows: data.length, delimiter: "," };
}
