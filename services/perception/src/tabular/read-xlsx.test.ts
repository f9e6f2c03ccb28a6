import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { InvalidInputError } from "@mlzero/errors";
import { afterAll, describe, expect, it } from "vitest";
import { xlsxWorkbook } from "../test-fixtures.js";
import { readXlsx } from "./read-xlsx.js";

const PYTHON = resolve(import.meta.dirname, "../../../../.venv/bin/python");
const dir = mkdtempSync(join(tmpdir(), "mlzero-xlsx-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: Buffer | string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe("readXlsx", () => {
  it("reads the first sheet as pandas does: header, numbers, text, booleans, dates, blanks", async () => {
    const path = file(
      "book.xlsx",
      xlsxWorkbook([
        {
          name: "data",
          rows: [
            ["id", "amount", null, "when", "flag", "note", "id"],
            ["007", 1.5, 3, new Date(Date.UTC(2024, 1, 29)), true, 'a, "quoted" <note>', "x"],
            [],
            ["008", 2, null, new Date(Date.UTC(2024, 2, 1, 12, 30)), false, null, "y"],
          ],
        },
        { name: "notes", rows: [["ignored"]] },
      ]),
    );
    const { table, sheet, sheets } = await readXlsx(path, "book.xlsx");
    expect(sheet).toBe("data");
    expect(sheets).toEqual(["data", "notes"]);
    expect(table.columns).toEqual(["id", "amount", "Unnamed: 2", "when", "flag", "note", "id.1"]);
    expect(table.rows).toEqual([
      ["007", 1.5, 3, "2024-02-29", true, 'a, "quoted" <note>', "x"],
      ["008", 2, undefined, "2024-03-01 12:30:00", false, undefined, "y"],
    ]);
    expect(table.totalRows).toBe(2);
  });

  it("keeps at most maxRows rows but counts them all", async () => {
    const rows = [["n"], ...Array.from({ length: 10 }, (_, i) => [i])];
    const { table } = await readXlsx(file("many.xlsx", xlsxWorkbook([{ name: "s", rows }])), "many.xlsx", 3);
    expect(table.rows).toEqual([[0], [1], [2]]);
    expect(table.totalRows).toBe(10);
  });

  it("reads a workbook openpyxl wrote, date cells included", async () => {
    execFileSync(PYTHON, [
      "-c",
      [
        "import datetime, sys",
        "from openpyxl import Workbook",
        "book = Workbook(); sheet = book.active; sheet.title = 'train'",
        "sheet.append(['name', 'score', 'day'])",
        "sheet.append(['Ann', 0.1, datetime.date(2023, 12, 31)])",
        "sheet.append(['Bob', 12, datetime.datetime(2024, 1, 1, 6, 0)])",
        "book.save(sys.argv[1])",
      ].join("\n"),
      join(dir, "openpyxl.xlsx"),
    ]);
    const { table } = await readXlsx(join(dir, "openpyxl.xlsx"), "openpyxl.xlsx");
    expect(table.columns).toEqual(["name", "score", "day"]);
    expect(table.rows).toEqual([
      ["Ann", 0.1, "2023-12-31"],
      ["Bob", 12, "2024-01-01 06:00:00"],
    ]);
  });

  it("rejects files that are no workbook, with a one-line reason", async () => {
    const old = file("old.xlsx", "not a zip at all");
    await expect(readXlsx(old, "old.xlsx")).rejects.toThrow(InvalidInputError);
    await expect(readXlsx(old, "old.xlsx")).rejects.toThrow(
      "old.xlsx is not a readable workbook: no ZIP directory (is it an old .xls file? save it as .xlsx or CSV)",
    );
    const empty = file("empty.xlsx", xlsxWorkbook([{ name: "blank", rows: [] }]));
    await expect(readXlsx(empty, "empty.xlsx")).rejects.toThrow("empty.xlsx: the sheet 'blank' is empty");
  });
});
