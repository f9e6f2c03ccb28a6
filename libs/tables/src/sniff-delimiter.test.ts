import { describe, expect, it } from "vitest";
import { sniffDelimiter } from "./sniff-delimiter.js";

describe("sniffDelimiter", () => {
  it("picks the separator that is consistent across lines", () => {
    expect(sniffDelimiter("a;b;c\n1,5;2;3\n4;5,5;6\n", true)).toBe(";");
    expect(sniffDelimiter("a\tb\n1\t2\n", true)).toBe("\t");
    expect(sniffDelimiter("a|b|c\n1|2|3\n", true)).toBe("|");
    expect(sniffDelimiter("a,b\n1,2\n", true)).toBe(",");
  });

  it("ignores separators inside quotes", () => {
    expect(sniffDelimiter('name;city\n"Smith, J";"Paris, FR"\n"Doe, A";Rome\n', true)).toBe(";");
  });

  it("ignores a last line cut short in a partial head", () => {
    expect(sniffDelimiter("a;b;c\n1;2;3\n4;5", false)).toBe(";");
  });

  it("treats a file without separators as one column", () => {
    expect(sniffDelimiter("label\nyes\nno\n", true)).toBe(",");
  });
});
