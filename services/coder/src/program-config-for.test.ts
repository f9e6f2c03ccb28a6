import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { FailedPreconditionError } from "@mlzero/errors";
import { ImageLayout, PerceptualContextSchema, ProblemType } from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import { programConfigFor } from "./program-config-for.js";

function config(context: Omit<MessageInitShape<typeof PerceptualContextSchema>, "$typeName">) {
  return programConfigFor({
    context: create(PerceptualContextSchema, {
      problemType: ProblemType.BINARY,
      labelColumn: "label",
      trainFile: "train.csv",
      testFile: "test.csv",
      files: [
        { path: "train.csv", format: "csv" },
        { path: "test.csv", format: "csv" },
      ],
      ...context,
    }),
    fix: undefined,
    timeLimitSeconds: 100,
    seed: 0,
  });
}

describe("programConfigFor", () => {
  it("points at the input tables, with no series or image block for a plain table", () => {
    const plain = config({ idColumn: "id", output: { fileName: "submission.csv", columns: ["id", "label"] } });
    expect(plain).toMatchObject({
      train_path: "../input/train.csv",
      test_path: "../input/test.csv",
      train_format: "csv",
      ignore_columns: ["id"],
      output_path: "outputs/submission.csv",
      time_limit_seconds: 60,
      timeseries: null,
      images: null,
    });
  });

  it("reads the tables perception derived (Excel as CSV, joins) from the task folder", () => {
    const derived = config({
      trainFile: "data/train.xlsx",
      testFile: "data/test.xlsx",
      files: [{ path: "data/train.xlsx", format: "xlsx" }],
      derivedTrainFile: "derived/train.csv",
      derivedTestFile: "derived/test.csv",
    });
    expect(derived).toMatchObject({
      train_path: "../derived/train.csv",
      train_format: "csv",
      test_path: "../derived/test.csv",
      test_format: "csv",
    });
  });

  it("fills the forecasting block, input paths relative to the iteration folder", () => {
    const forecast = config({
      problemType: ProblemType.REGRESSION,
      labelColumn: "sales",
      idColumn: "row_id",
      metric: { name: "mase" },
      output: { fileName: "predictions.csv", columns: ["row_id", "store", "date", "sales"], idColumn: "row_id" },
      timeSeries: {
        itemColumn: "store",
        timestampColumn: "date",
        horizon: 14,
        frequency: "D",
        knownCovariates: ["promo"],
        staticFeaturesFile: "meta/stores.csv",
      },
    });
    expect(forecast.problem_type).toBe("regression");
    expect(forecast.output_columns).toEqual(["row_id", "store", "date", "sales"]);
    expect(forecast.timeseries).toEqual({
      item_column: "store",
      timestamp_column: "date",
      horizon: 14,
      frequency: "D",
      season_length: null,
      known_covariates: ["promo"],
      static_features_path: "../input/meta/stores.csv",
    });
    const single = config({ problemType: ProblemType.REGRESSION, timeSeries: { timestampColumn: "month", horizon: 6 } });
    expect(single.timeseries).toMatchObject({ item_column: null, frequency: null, static_features_path: null });
  });

  it("fills the image block for class folders and for tables of paths", () => {
    const folders = config({
      problemType: ProblemType.MULTICLASS,
      trainFile: "images/train",
      testFile: "images/test",
      images: { layout: ImageLayout.FOLDERS, root: "images/train", testRoot: "images/test" },
    });
    expect(folders).toMatchObject({
      train_path: "../input/images/train",
      test_path: "../input/images/test",
      train_format: "",
      test_format: "",
    });
    expect(folders.images).toEqual({
      layout: "folders",
      root: "../input/images/train",
      path_column: null,
      test_root: "../input/images/test",
    });

    const table = config({ images: { layout: ImageLayout.TABLE, root: "", pathColumn: "file" } });
    expect(table.train_format).toBe("csv");
    expect(table.images).toEqual({ layout: "csv", root: "../input", path_column: "file", test_root: null });
    expect(() => config({ images: { root: "x" } })).toThrow(FailedPreconditionError);
  });
});
