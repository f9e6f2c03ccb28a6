import { describe, expect, it } from "vitest";
import { isSampleSubmissionName, isTestName, isTrainName, isValidationName, nameWords } from "./file-names.js";

describe("file names", () => {
  it("splits names into words", () => {
    expect(nameWords("data/trainData_v2.csv")).toEqual(["train", "data", "v2"]);
  });

  it("recognises roles by whole words", () => {
    expect(isTrainName("train.csv")).toBe(true);
    expect(isTrainName("labeled-rows.parquet")).toBe(true);
    expect(isTrainName("unlabeled.csv")).toBe(false);
    expect(isTrainName("strain.csv")).toBe(false);
    expect(isTestName("unlabeled.csv")).toBe(true);
    expect(isTestName("holdout.csv")).toBe(true);
    expect(isTestName("contest.csv")).toBe(false);
    expect(isTestName("train_test_ids.csv")).toBe(false);
    expect(isValidationName("valid.csv")).toBe(true);
    expect(isSampleSubmissionName("sample_submission.csv")).toBe(true);
    expect(isSampleSubmissionName("example-output.csv")).toBe(true);
    expect(isSampleSubmissionName("output.csv")).toBe(false);
  });
});
