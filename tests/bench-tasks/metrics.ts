import { r2, rocAuc } from "../support/scoring.js";

// The suite's metrics, written to agree with scikit-learn's (the generator
// scores the baselines with scikit-learn; the suite's test checks both agree).

export { r2, rocAuc };

export type MetricName = "accuracy" | "f1" | "f1_macro" | "roc_auc" | "log_loss" | "rmse" | "mae" | "r2";

/** Share of equal labels. */
export function accuracy(truth: readonly string[], predicted: readonly string[]): number {
  return truth.filter((value, index) => value === predicted[index]).length / truth.length;
}

/** F1 of one class; 0 when it is neither predicted nor true (scikit-learn's zero_division=0). */
function classF1(truth: readonly string[], predicted: readonly string[], positive: string): number {
  let truePositives = 0;
  let falsePositives = 0;
  let falseNegatives = 0;
  truth.forEach((value, index) => {
    const guess = predicted[index];
    if (guess === positive && value === positive) truePositives++;
    else if (guess === positive) falsePositives++;
    else if (value === positive) falseNegatives++;
  });
  const denominator = 2 * truePositives + falsePositives + falseNegatives;
  return denominator === 0 ? 0 : (2 * truePositives) / denominator;
}

/** Binary F1 of the positive class. */
export function f1(truth: readonly string[], predicted: readonly string[], positive: string): number {
  return classF1(truth, predicted, positive);
}

/** Unweighted mean of the F1 of every label that is true or predicted. */
export function f1Macro(truth: readonly string[], predicted: readonly string[]): number {
  const labels = [...new Set([...truth, ...predicted])];
  return labels.reduce((sum, label) => sum + classF1(truth, predicted, label), 0) / labels.length;
}

/**
 * Mean negative log-likelihood of the true class; each row of
 * `probabilities` (one column per class of `classes`) is scaled to sum to one,
 * then clipped to [eps, 1 − eps] as scikit-learn clips.
 */
export function logLoss(truth: readonly string[], probabilities: readonly (readonly number[])[], classes: readonly string[]): number {
  const eps = Number.EPSILON;
  let total = 0;
  truth.forEach((value, index) => {
    const row = probabilities[index]!;
    const sum = row.reduce((acc, p) => acc + p, 0);
    const column = classes.indexOf(value);
    const p = column < 0 || !(sum > 0) ? 0 : row[column]! / sum;
    total -= Math.log(Math.min(1 - eps, Math.max(eps, p)));
  });
  return total / truth.length;
}

export function rmse(truth: readonly number[], predicted: readonly number[]): number {
  return Math.sqrt(truth.reduce((sum, value, index) => sum + (value - predicted[index]!) ** 2, 0) / truth.length);
}

export function mae(truth: readonly number[], predicted: readonly number[]): number {
  return truth.reduce((sum, value, index) => sum + Math.abs(value - predicted[index]!), 0) / truth.length;
}
