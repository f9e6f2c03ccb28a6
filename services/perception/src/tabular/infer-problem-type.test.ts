import { ProblemType } from "@mlzero/proto";
import type { Cell } from "@mlzero/tables";
import { describe, expect, it } from "vitest";
import { InferenceLog } from "../inference-log.js";
import { inferProblemType } from "./infer-problem-type.js";
import type { TableFile } from "./table-file.js";

function train(labels: Cell[], format: "csv" | "json" = "csv"): TableFile {
  return {
    file: { path: "train.csv", absolutePath: "/x/train.csv", sizeBytes: 1 },
    table: { format, columns: ["y"], rows: labels.map((label) => [label]), totalRows: labels.length },
    columns: [],
  };
}

const infer = (labels: Cell[], description = "") => inferProblemType(train(labels), "y", description, new InferenceLog());

describe("inferProblemType", () => {
  it("calls two distinct values binary, missing values aside", () => {
    expect(infer(["1", "0", "NA", undefined, "1"])).toEqual({ problemType: ProblemType.BINARY, labelValues: ["0", "1"] });
    expect(infer(["true", "False"]).labelValues).toEqual(["False", "True"]);
  });

  it("calls non-numeric labels multiclass", () => {
    expect(infer(["b", "a", "c", "a"])).toEqual({ problemType: ProblemType.MULTICLASS, labelValues: ["a", "b", "c"] });
  });

  it("splits whole numbers on AutoGluon's distinct-share thresholds", () => {
    const few = Array.from({ length: 100 }, (_, i) => String(i % 10));
    expect(infer(few).problemType).toBe(ProblemType.MULTICLASS);
    const many = Array.from({ length: 100 }, (_, i) => String(i % 11));
    expect(infer(many).problemType).toBe(ProblemType.REGRESSION);
    const large = Array.from({ length: 2000 }, (_, i) => String(i % 101));
    expect(infer(large).problemType).toBe(ProblemType.REGRESSION);
    expect(infer(many, "a classification task").problemType).toBe(ProblemType.MULTICLASS);
    expect(infer(few, "a regression task").problemType).toBe(ProblemType.REGRESSION);
  });

  it("calls numbers with fractions regression", () => {
    expect(infer(["1.5", "2.25", "3"])).toEqual({ problemType: ProblemType.REGRESSION, labelValues: [] });
  });

  it("rejects a label with one value", () => {
    expect(() => infer(["a", "a", ""])).toThrow(/single value/);
  });
});
