import { describe, expect, it } from "vitest";
import { detectTableFormat } from "./detect-table-format.js";

describe("detectTableFormat", () => {
  it("maps extensions case-insensitively", () => {
    expect(detectTableFormat("data/train.CSV")).toBe("csv");
    expect(detectTableFormat("a.tsv")).toBe("tsv");
    expect(detectTableFormat("a.json")).toBe("json");
    expect(detectTableFormat("a.jsonl")).toBe("jsonl");
    expect(detectTableFormat("a.NDJSON")).toBe("jsonl");
    expect(detectTableFormat("a.parquet")).toBe("parquet");
  });

  it("says nothing for text and unknown files", () => {
    expect(detectTableFormat("notes.txt")).toBeUndefined();
    expect(detectTableFormat("image.png")).toBeUndefined();
    expect(detectTableFormat("train.csv.gz")).toBeUndefined();
    expect(detectTableFormat("Makefile")).toBeUndefined();
  });
});
