import { ColumnType } from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import { inferColumnType } from "./column-type.js";

const type = (values: (string | number | boolean)[]) => inferColumnType(values, new Set(values.map(String)).size);

describe("inferColumnType", () => {
  it("tells booleans, integers and decimals apart as pandas would", () => {
    expect(type(["True", "false", true])).toBe(ColumnType.BOOLEAN);
    expect(type(["1", "-2", 3])).toBe(ColumnType.INTEGER);
    expect(type(["1", "2.0"])).toBe(ColumnType.NUMERIC);
    expect(type(["1e3", ".5", "inf"])).toBe(ColumnType.NUMERIC);
    expect(type([0, 1, 1])).toBe(ColumnType.INTEGER);
  });

  it("recognises dates, year first or last", () => {
    expect(type(["2024-01-31", "2024-02-01T10:00:00Z"])).toBe(ColumnType.DATETIME);
    expect(type(["31/12/2024", "01/02/2023 10:30"])).toBe(ColumnType.DATETIME);
    expect(type(["2024-13-01"])).toBe(ColumnType.CATEGORICAL);
  });

  it("calls long, mostly distinct strings text and the rest categorical", () => {
    expect(type(["the cat sat", "a dog ran off", "birds fly south"])).toBe(ColumnType.TEXT);
    expect(type(["red", "green", "red"])).toBe(ColumnType.CATEGORICAL);
    expect(type(["New York City", "New York City", "New York City", "Los Angeles area", "Los Angeles area"])).toBe(ColumnType.CATEGORICAL);
    expect(type(["x".repeat(60)])).toBe(ColumnType.TEXT);
    expect(type([])).toBe(ColumnType.CATEGORICAL);
  });
});
