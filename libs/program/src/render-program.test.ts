import { describe, expect, it } from "vitest";
import { renderProgram, CONFIG_PLACEHOLDER } from "./render-program.js";
import { parseResultLine } from "./result-line.js";
import type { ProgramConfig } from "./program-config.js";

const config: ProgramConfig = {
  train_path: "../input/train.csv",
  test_path: "../input/test.csv",
  train_format: "csv",
  test_format: "csv",
  label_column: 'we"ird\\label\n"""',
  id_column: null,
  ignore_columns: [],
  problem_type: "binary",
  metric: "roc_auc",
  output_path: "outputs/predictions.csv",
  output_columns: ["label"],
  class_probabilities: false,
  positive_class: null,
  label_values: ["no", "yes"],
  time_limit_seconds: 60,
  reduce_level: 0,
  seed: 0,
  timeseries: null,
  images: null,
};

describe("renderProgram", () => {
  it("embeds the config as a string literal that decodes back to the config", () => {
    const program = renderProgram(`import json\nCONFIG = json.loads(${CONFIG_PLACEHOLDER})\n`, config);
    const literal = program.split("json.loads(")[1]!.replace(/\)\n$/, "");
    expect(JSON.parse(JSON.parse(literal))).toEqual(config);
  });

  it("keeps the forecasting and image blocks, and null for tasks without them", () => {
    const forecast: ProgramConfig = {
      ...config,
      problem_type: "regression",
      metric: "mase",
      timeseries: {
        item_column: "store",
        timestamp_column: "date",
        horizon: 14,
        frequency: null,
        season_length: 7,
        known_covariates: ["promo"],
        static_features_path: "../input/stores.csv",
      },
    };
    const images: ProgramConfig = {
      ...config,
      problem_type: "multiclass",
      images: { layout: "folders", root: "../input/train", path_column: null, test_root: "../input/test" },
    };
    for (const value of [config, forecast, images]) {
      const program = renderProgram(`CONFIG = json.loads(${CONFIG_PLACEHOLDER})\n`, value);
      const decoded = JSON.parse(JSON.parse(program.split("json.loads(")[1]!.replace(/\)\n$/, ""))) as ProgramConfig;
      expect(decoded).toEqual(value);
    }
  });

  it("rejects a template without exactly one placeholder", () => {
    expect(() => renderProgram("print(1)", config)).toThrow(/exactly once/);
    expect(() => renderProgram(`${CONFIG_PLACEHOLDER}${CONFIG_PLACEHOLDER}`, config)).toThrow(/found 2/);
  });
});

describe("parseResultLine", () => {
  it("takes the last valid line and ignores malformed ones", () => {
    const output = [
      'MLZERO_RESULT {"metric": "rmse", "score": 3}',
      "training...",
      'MLZERO_RESULT {"metric": "rmse", "score": 2.5, "validation_rows": 10}',
      "MLZERO_RESULT {not json",
    ].join("\n");
    expect(parseResultLine(output)).toEqual({ metric: "rmse", score: 2.5, validation_rows: 10 });
  });

  it("returns undefined without a line, or with a non-finite score", () => {
    expect(parseResultLine("hello")).toBeUndefined();
    expect(parseResultLine('MLZERO_RESULT {"metric": "x", "score": "high"}')).toBeUndefined();
  });
});
