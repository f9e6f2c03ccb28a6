import { ProblemType } from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import { InferenceLog } from "../inference-log.js";
import { inferPositiveClass, type PositiveClassFacts } from "./infer-positive-class.js";
import type { TableFile } from "./table-file.js";

function sampleWith(values: string[]): TableFile {
  return { columns: [{ name: "target", examples: values }] } as unknown as TableFile;
}

const base: PositiveClassFacts = {
  problemType: ProblemType.BINARY,
  metric: "accuracy",
  label: "target",
  labelValues: ["0", "1"],
  sample: undefined,
};

describe("inferPositiveClass", () => {
  it("reads probabilities from a sample submission's fractions", () => {
    expect(inferPositiveClass({ ...base, sample: sampleWith(["0.5"]) }, new InferenceLog())).toBe("1");
  });

  it("keeps labels when the sample submission shows labels", () => {
    expect(inferPositiveClass({ ...base, metric: "roc_auc", sample: sampleWith(["0", "1"]) }, new InferenceLog())).toBe("");
  });

  it("uses probabilities for AUC without a sample, choosing the conventional positive label", () => {
    expect(inferPositiveClass({ ...base, metric: "roc_auc", labelValues: ["no", "yes"] }, new InferenceLog())).toBe("yes");
    expect(inferPositiveClass({ ...base, metric: "log_loss", labelValues: ["cat", "dog"] }, new InferenceLog())).toBe("dog");
  });

  it("leaves accuracy-scored and non-binary tasks with labels", () => {
    expect(inferPositiveClass(base, new InferenceLog())).toBe("");
    expect(inferPositiveClass({ ...base, problemType: ProblemType.MULTICLASS, metric: "roc_auc" }, new InferenceLog())).toBe("");
  });
});
