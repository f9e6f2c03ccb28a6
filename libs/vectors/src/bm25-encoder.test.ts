import { describe, expect, it } from "vitest";
import { createBm25Encoder, termIndex } from "./bm25-encoder.js";
import { tokenize } from "./tokenize.js";

describe("tokenize", () => {
  it("lowercases, drops stopwords and keeps identifiers with their parts", () => {
    expect(tokenize("The LGBMClassifier and fit_transform of a pipeline")).toEqual([
      "lgbmclassifier",
      "lgbm",
      "classifier",
      "fit_transform",
      "fit",
      "transform",
      "pipeline",
    ]);
  });

  it("keeps the words error messages turn on", () => {
    expect(tokenize("ValueError: could not convert string to float: 'abc'")).toEqual([
      "valueerror",
      "value",
      "error",
      "could",
      "not",
      "convert",
      "string",
      "float",
      "abc",
    ]);
    expect(tokenize("ModuleNotFoundError: No module named 'xgboost'")).toContain("no");
  });
});

describe("BM25 encoder", () => {
  const encoder = createBm25Encoder({ averageLength: 4 });

  it("indexes terms by a stable 32-bit hash", () => {
    expect(termIndex("lightgbm")).toBe(termIndex("lightgbm"));
    expect(termIndex("lightgbm")).not.toBe(termIndex("sklearn"));
    expect(termIndex("")).toBe(0x811c9dc5);
    const index = termIndex("a longer term with ünïcode");
    expect(Number.isInteger(index) && index >= 0 && index < 2 ** 32).toBe(true);
  });

  it("saturates term frequency and favours short documents", () => {
    const value = (text: string, term: string): number => {
      const vector = encoder.document(text);
      return vector.values[vector.indices.indexOf(termIndex(term))]!;
    };
    const once = value("lightgbm model data rows", "lightgbm");
    const twice = value("lightgbm lightgbm data rows", "lightgbm");
    const many = value("lightgbm lightgbm lightgbm lightgbm", "lightgbm");
    expect(twice).toBeGreaterThan(once);
    expect(many - twice).toBeLessThan(twice - once);
    expect(many).toBeLessThan(1.2 + 1);
    expect(value("lightgbm rows", "lightgbm")).toBeGreaterThan(value("lightgbm rows data model table column", "lightgbm"));
  });

  it("weights each distinct query term once, in index order", () => {
    const query = encoder.query("error error lightgbm");
    expect(query.values).toEqual([1, 1]);
    expect(query.indices).toEqual([termIndex("error"), termIndex("lightgbm")].sort((left, right) => left - right));
  });
});
