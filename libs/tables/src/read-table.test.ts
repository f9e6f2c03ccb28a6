import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { InvalidInputError, NotFoundError } from "@mlzero/errors";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readTable } from "./read-table.js";

const PYTHON = resolve(import.meta.dirname, "../../../.venv/bin/python");

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "mlzero-tables-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function expectInvalid(path: string, message: RegExp): Promise<void> {
  const error = await readTable(path).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).not.toContain("\n");
}

describe("readTable: CSV and TSV", () => {
  it("reads quoted fields, a BOM, CRLF and blank cells", async () => {
    const path = write("bom.csv", '\uFEFFid,name,score\r\n1,"Smith, ""J""",3.5\r\n2,,\r\n3,"multi\nline",7\r\n');
    const table = await readTable(path);
    expect(table).toEqual({
      format: "csv",
      columns: ["id", "name", "score"],
      rows: [
        ["1", 'Smith, "J"', "3.5"],
        ["2", undefined, undefined],
        ["3", "multi\nline", "7"],
      ],
      totalRows: 3,
      delimiter: ",",
    });
  });

  it("sniffs a semicolon delimiter in .csv and a tab in .txt", async () => {
    const semi = await readTable(write("semi.csv", "a;b\n1,5;x\n2,5;y\n"));
    expect(semi.delimiter).toBe(";");
    expect(semi.rows).toEqual([
      ["1,5", "x"],
      ["2,5", "y"],
    ]);
    const txt = await readTable(write("data.txt", "a\tb\n1\t2\n"), { format: "csv" });
    expect(txt.columns).toEqual(["a", "b"]);
    expect(txt.rows).toEqual([["1", "2"]]);
  });

  it("reads TSV with commas in cells", async () => {
    const table = await readTable(write("t.tsv", "text\tlabel\nhello, world\t1\n"));
    expect(table.format).toBe("tsv");
    expect(table.rows).toEqual([["hello, world", "1"]]);
  });

  it("keeps a stray quote inside an unquoted field as text", async () => {
    const table = await readTable(write("quote.csv", 'item,size\nscreen,12" wide\n'));
    expect(table.rows).toEqual([["screen", '12" wide']]);
  });

  it("names blank and repeated headers as pandas does", async () => {
    const table = await readTable(write("names.csv", ",x,x,y\n0,1,2,3\n"));
    expect(table.columns).toEqual(["Unnamed: 0", "x", "x.1", "y"]);
  });

  it("stops at maxRows and still counts every row exactly", async () => {
    const lines = ["id,text"];
    for (let i = 0; i < 500; i++) lines.push(i % 7 === 0 ? `${i},"has\nnewline, and ""quotes"""` : `${i},plain`);
    const path = write("big.csv", `\uFEFF${lines.join("\n")}\n\n`);
    const table = await readTable(path, { maxRows: 10 });
    expect(table.rows).toHaveLength(10);
    expect(table.rows[7]).toEqual(["7", 'has\nnewline, and "quotes"']);
    expect(table.totalRows).toBe(500);
    expect((await readTable(path)).rows).toHaveLength(500);
  });

  it("reads a header-only file as an empty table", async () => {
    const table = await readTable(write("header.csv", "id,label\n"));
    expect(table.columns).toEqual(["id", "label"]);
    expect(table.rows).toEqual([]);
    expect(table.totalRows).toBe(0);
  });
});

describe("readTable: JSON and JSON Lines", () => {
  it("reads an array of records with the union of their keys", async () => {
    const path = write(
      "a.json",
      JSON.stringify([
        { a: 1, b: "x" },
        { a: null, c: true, d: { n: [1, 2] } },
      ]),
    );
    const table = await readTable(path);
    expect(table.columns).toEqual(["a", "b", "c", "d"]);
    expect(table.rows).toEqual([
      [1, "x", undefined, undefined],
      [undefined, undefined, true, '{"n":[1,2]}'],
    ]);
    expect(table.totalRows).toBe(2);
  });

  it("reads an object wrapping one array of records, up to maxRows", async () => {
    const path = write("wrapped.json", JSON.stringify({ version: 2, data: [{ a: 1 }, { a: 2 }, { a: 3 }] }));
    const table = await readTable(path, { maxRows: 2 });
    expect(table.rows).toEqual([[1], [2]]);
    expect(table.totalRows).toBe(3);
  });

  it("reads JSON Lines, skipping blank lines, counting past maxRows", async () => {
    const path = write("a.ndjson", '{"x":1,"y":"a"}\r\n\n{"x":2.5,"z":[1]}\n{"x":3}\n');
    const table = await readTable(path, { maxRows: 2 });
    expect(table.format).toBe("jsonl");
    expect(table.columns).toEqual(["x", "y", "z"]);
    expect(table.rows).toEqual([
      [1, "a", undefined],
      [2.5, undefined, "[1]"],
    ]);
    expect(table.totalRows).toBe(3);
  });
});

describe("readTable: Parquet", () => {
  it.each(["snappy", "gzip", "zstd"])("reads a pyarrow file compressed with %s", async (codec) => {
    const path = join(dir, `data-${codec}.parquet`);
    execFileSync(PYTHON, [
      "-c",
      `
import sys, pandas as pd, numpy as np
df = pd.DataFrame({
  "id": np.arange(5, dtype="int64"),
  "f": [1.5, None, 3.0, 4.0, float("nan")],
  "s": ["a", None, "c", "d", "e"],
  "b": [True, False, None, True, False],
  "t": pd.to_datetime(["2024-01-02", "2024-01-03", None, "2024-01-05", "2024-01-06"]),
  "l": [[1, 2], [], None, [3], [4]],
}, index=pd.Index([10, 11, 12, 13, 14], name="idx"))
df["b"] = df["b"].astype("boolean")
df.to_parquet(sys.argv[1], compression=sys.argv[2])
`,
      path,
      codec,
    ]);
    const table = await readTable(path, { maxRows: 3 });
    expect(table.format).toBe("parquet");
    expect(table.columns).toEqual(["id", "f", "s", "b", "t", "l", "idx"]);
    expect(table.totalRows).toBe(5);
    expect(table.rows).toEqual([
      [0, 1.5, "a", true, "2024-01-02T00:00:00.000Z", "[1,2]", 10],
      [1, undefined, undefined, false, "2024-01-03T00:00:00.000Z", "[]", 11],
      [2, 3, "c", undefined, undefined, undefined, 12],
    ]);
  });

  it("drops the column pyarrow adds for a non-default pandas index", async () => {
    const path = join(dir, "index.parquet");
    execFileSync(PYTHON, ["-c", "import sys, pandas as pd; pd.DataFrame({'a': [1, 2]}, index=[5, 9]).to_parquet(sys.argv[1])", path]);
    const table = await readTable(path);
    expect(table.columns).toEqual(["a"]);
    expect(table.rows).toEqual([[1], [2]]);
  });
});

describe("readTable: bad files", () => {
  it("rejects binary content posing as CSV", async () => {
    await expectInvalid(
      write("bin.csv", Buffer.from([0x61, 0x2c, 0x62, 0x0a, 0x00, 0x01, 0x02])),
      /^bin\.csv is not a text table \(binary content\)$/,
    );
    await expectInvalid(
      write("zip.csv", Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00])),
      /^zip\.csv is not a text table \(binary content: looks like a zip archive\)$/,
    );
  });

  it("rejects text that is not UTF-8", async () => {
    await expectInvalid(
      write("latin.csv", Buffer.from([0x61, 0x2c, 0x62, 0x0a, 0xe9, 0x2c, 0x31, 0x0a])),
      /^latin\.csv is not a text table \(not valid UTF-8/,
    );
  });

  it("rejects empty files", async () => {
    await expectInvalid(write("empty.csv", ""), /^empty\.csv is empty$/);
    await expectInvalid(write("blank.csv", "\n\n  \n"), /^blank\.csv is empty$/);
    await expectInvalid(write("empty.parquet", ""), /^empty\.parquet is empty$/);
    await expectInvalid(write("empty.jsonl", "\n"), /^empty\.jsonl is empty$/);
  });

  it("rejects a CSV without a header row", async () => {
    await expectInvalid(write("noheader.csv", "1,2.5,3\n4,5,6\n"), /^noheader\.csv has no header row/);
  });

  it("rejects ragged rows and unclosed quotes", async () => {
    await expectInvalid(
      write("ragged.csv", "a,b\n1,2\n3,4,5\n"),
      /^ragged\.csv is not a valid CSV table: a row has a different number of fields than the header at line 3 \(3 fields, header has 2\)$/,
    );
    await expectInvalid(write("open.csv", 'a,b\n1,"2\n3,4\n'), /^open\.csv is not a valid CSV table: a quoted field is never closed/);
  });

  it("rejects JSON that is not a table", async () => {
    await expectInvalid(write("bad.json", "{not json"), /^bad\.json is not valid JSON$/);
    await expectInvalid(write("scalar.json", "[1, 2]"), /^scalar\.json is not a JSON table: expected an array of records/);
    await expectInvalid(write("none.json", "[]"), /^none\.json has no records$/);
    await expectInvalid(write("bad.jsonl", '{"a":1}\n{"a":\n'), /^bad\.jsonl is not valid JSON Lines: line 2 is not valid JSON$/);
    await expectInvalid(write("arr.jsonl", '{"a":1}\n[1]\n'), /^arr\.jsonl is not valid JSON Lines: line 2 is not a JSON object$/);
  });

  it("rejects a corrupt Parquet file", async () => {
    await expectInvalid(write("bad.parquet", "PAR1 this is not parquet"), /^bad\.parquet is not a readable Parquet file$/);
  });

  it("rejects an unknown extension and reports a missing file as not found", async () => {
    await expectInvalid(write("image.png", "x"), /^image\.png is not a table file/);
    await expect(readTable(join(dir, "missing.csv"))).rejects.toThrow(NotFoundError);
    await expect(readTable(join(dir, "missing.csv"))).rejects.toThrow(/^missing\.csv does not exist$/);
  });
});
