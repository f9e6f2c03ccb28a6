import { ProblemType } from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import { chooseForecastMetric, chooseMetric } from "./metrics.js";

const metric = (text: string, type: ProblemType) => {
  const { metric: chosen } = chooseMetric(text, type);
  return [chosen.name, chosen.greaterIsBetter];
};

describe("chooseMetric", () => {
  it("reads the metric the description names, per problem type", () => {
    expect(metric("Evaluated with ROC AUC.", ProblemType.BINARY)).toEqual(["roc_auc", true]);
    expect(metric("Evaluated with AUC.", ProblemType.MULTICLASS)).toEqual(["roc_auc_ovr", true]);
    expect(metric("We use the F1 score.", ProblemType.BINARY)).toEqual(["f1", true]);
    expect(metric("We use the F1 score.", ProblemType.MULTICLASS)).toEqual(["f1_macro", true]);
    expect(metric("weighted F1 please", ProblemType.MULTICLASS)).toEqual(["f1_weighted", true]);
    expect(metric("Scored by log loss", ProblemType.MULTICLASS)).toEqual(["log_loss", false]);
    expect(metric("balanced accuracy matters", ProblemType.BINARY)).toEqual(["balanced_accuracy", true]);
    expect(metric("Root Mean Squared Error", ProblemType.REGRESSION)).toEqual(["rmse", false]);
    expect(metric("RMSLE between log values", ProblemType.REGRESSION)).toEqual(["rmsle", false]);
    expect(metric("mean squared error", ProblemType.REGRESSION)).toEqual(["mse", false]);
    expect(metric("MAPE", ProblemType.REGRESSION)).toEqual(["mape", false]);
    expect(metric("R-squared", ProblemType.REGRESSION)).toEqual(["r2", true]);
  });

  it("takes the first metric named, and ignores ones that do not fit the type", () => {
    expect(metric("Report MAE; we also look at RMSE.", ProblemType.REGRESSION)).toEqual(["mae", false]);
    expect(metric("AUC of 0.8 was reached before; now minimise MAE", ProblemType.REGRESSION)).toEqual(["mae", false]);
  });

  it("prefers a metric named where the text speaks of scoring", () => {
    expect(metric("Help us improve accuracy.\nSubmissions are evaluated on multi-class log loss.", ProblemType.MULTICLASS)).toEqual([
      "log_loss",
      false,
    ]);
  });

  it("falls back to a default per type", () => {
    expect(metric("", ProblemType.BINARY)).toEqual(["roc_auc", true]);
    expect(metric("", ProblemType.MULTICLASS)).toEqual(["accuracy", true]);
    expect(metric("no metric here", ProblemType.REGRESSION)).toEqual(["rmse", false]);
    expect(chooseMetric("", ProblemType.REGRESSION).evidence).toMatch(/default/);
  });
});

describe("chooseForecastMetric", () => {
  it("reads the forecast error the description names first, else MASE", () => {
    const name = (text: string) => chooseForecastMetric(text).metric.name;
    expect(name("Forecasts are scored by sMAPE, then MAE.")).toBe("smape");
    expect(name("We use the Mean Absolute Scaled Error.")).toBe("mase");
    expect(name("weighted absolute percentage error (WAPE)")).toBe("wape");
    expect(name("RMSSE as in M5")).toBe("rmsse");
    expect(name("lowest MAPE wins")).toBe("mape");
    expect(name("RMSE")).toBe("rmse");
    expect(chooseForecastMetric("Forecast the next week.")).toMatchObject({
      metric: { name: "mase", greaterIsBetter: false },
      evidence: "the description names no forecast metric; MASE, the default for forecasts",
    });
  });
});
