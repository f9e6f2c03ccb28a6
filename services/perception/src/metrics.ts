import { create } from "@bufbuild/protobuf";
import { MetricSchema, ProblemType, type Metric } from "@mlzero/proto";

/**
 * A metric a description may name. `names` gives the metric's name per
 * problem type it fits (AutoGluon's names, which the templates also use);
 * a type it does not fit is absent, so "AUC" in a regression task is ignored.
 */
interface MetricPattern {
  pattern: RegExp;
  names: Partial<Record<ProblemType, string>>;
  greaterIsBetter: boolean;
}

const CLASSIFICATION = (binary: string, multiclass: string): Partial<Record<ProblemType, string>> => ({
  [ProblemType.BINARY]: binary,
  [ProblemType.MULTICLASS]: multiclass,
});
const REGRESSION = (name: string): Partial<Record<ProblemType, string>> => ({ [ProblemType.REGRESSION]: name });

// Earlier entries win when two patterns match at the same place.
const METRIC_PATTERNS: readonly MetricPattern[] = [
  {
    pattern: /\broc[\s_-]*auc\b|\bauc[\s_-]*roc\b|area under the (?:roc )?curve|\bauc\b/i,
    names: CLASSIFICATION("roc_auc", "roc_auc_ovr"),
    greaterIsBetter: true,
  },
  {
    pattern: /\blog[\s_-]?loss\b|\blogarithmic loss\b|\bcross[\s-]?entropy\b/i,
    names: CLASSIFICATION("log_loss", "log_loss"),
    greaterIsBetter: false,
  },
  {
    pattern: /\bmacro[\s_-]?(?:averaged\s+)?f1\b|\bf1[\s_-]?macro\b/i,
    names: CLASSIFICATION("f1_macro", "f1_macro"),
    greaterIsBetter: true,
  },
  {
    pattern: /\bmicro[\s_-]?(?:averaged\s+)?f1\b|\bf1[\s_-]?micro\b/i,
    names: CLASSIFICATION("f1_micro", "f1_micro"),
    greaterIsBetter: true,
  },
  {
    pattern: /\bweighted[\s_-]?(?:averaged\s+)?f1\b|\bf1[\s_-]?weighted\b/i,
    names: CLASSIFICATION("f1_weighted", "f1_weighted"),
    greaterIsBetter: true,
  },
  { pattern: /\bf1\b|\bf-?1[\s-]score\b|\bf-score\b|\bf-measure\b/i, names: CLASSIFICATION("f1", "f1_macro"), greaterIsBetter: true },
  { pattern: /\bbalanced[\s_-]accuracy\b/i, names: CLASSIFICATION("balanced_accuracy", "balanced_accuracy"), greaterIsBetter: true },
  { pattern: /\baccuracy\b/i, names: CLASSIFICATION("accuracy", "accuracy"), greaterIsBetter: true },
  { pattern: /\bmatthews\b|\bmcc\b/i, names: CLASSIFICATION("mcc", "mcc"), greaterIsBetter: true },
  {
    pattern: /\bquadratic(?:ally)?[\s_-]weighted[\s_-]kappa\b|\bqwk\b|\bcohen'?s kappa\b/i,
    names: CLASSIFICATION("quadratic_kappa", "quadratic_kappa"),
    greaterIsBetter: true,
  },
  {
    pattern: /\brmsle\b|\broot[\s_-]mean[\s_-]squared?[\s_-]log(?:arithmic)?[\s_-]error\b/i,
    names: REGRESSION("rmsle"),
    greaterIsBetter: false,
  },
  { pattern: /\brmse\b|\broot[\s_-]mean[\s_-]squared?[\s_-]error\b/i, names: REGRESSION("rmse"), greaterIsBetter: false },
  { pattern: /\bmse\b|\bmean[\s_-]squared?[\s_-]error\b/i, names: REGRESSION("mse"), greaterIsBetter: false },
  { pattern: /\bmape\b|\bmean[\s_-]absolute[\s_-]percentage[\s_-]error\b/i, names: REGRESSION("mape"), greaterIsBetter: false },
  { pattern: /\bmae\b|\bmean[\s_-]absolute[\s_-]error\b/i, names: REGRESSION("mae"), greaterIsBetter: false },
  { pattern: /\br2\b|\br\^2\b|\br[\s-]squared\b|\bcoefficient of determination\b/i, names: REGRESSION("r2"), greaterIsBetter: true },
];

/** The metric used when the description names none. */
const DEFAULTS: Record<ProblemType, Metric | undefined> = {
  [ProblemType.UNSPECIFIED]: undefined,
  [ProblemType.BINARY]: create(MetricSchema, { name: "roc_auc", greaterIsBetter: true }),
  [ProblemType.MULTICLASS]: create(MetricSchema, { name: "accuracy", greaterIsBetter: true }),
  [ProblemType.REGRESSION]: create(MetricSchema, { name: "rmse", greaterIsBetter: false }),
};

/** A metric and the reason it was chosen. */
export interface MetricChoice {
  metric: Metric;
  evidence: string;
}

/** Words of a sentence that says how the task is scored, where a metric name means the metric. */
const SCORING_SENTENCE =
  /\b(?:evaluat\w*|metric|scor\w*|measur\w*|judg\w*|rank\w*|leaderboard|optimi[sz]\w*|minimi[sz]\w*|maximi[sz]\w*)\b/i;

/**
 * The task's metric: the first metric that fits the problem type named in a
 * sentence about scoring ("evaluated on", "metric", ...), else the first
 * named anywhere (so "improve accuracy" in an intro does not beat "scored by
 * log loss" later), else the type's default (binary: roc_auc, multiclass:
 * accuracy, regression: rmse).
 */
export function chooseMetric(description: string, problemType: ProblemType): MetricChoice {
  const scoring = description
    .split(/(?<=[.!?])\s+|\n+/)
    .filter((sentence) => SCORING_SENTENCE.test(sentence))
    .join("\n");
  const found = firstMetric(scoring, problemType) ?? firstMetric(description, problemType);
  if (found !== undefined) {
    return {
      metric: create(MetricSchema, { name: found.name, greaterIsBetter: found.pattern.greaterIsBetter }),
      evidence: `the description mentions "${found.text}"`,
    };
  }
  const metric = DEFAULTS[problemType];
  if (metric === undefined) throw new Error(`no default metric for problem type ${problemType}`);
  return { metric, evidence: "the description names no metric; default for the problem type" };
}

/** The metric fitting the problem type that the text names first; on a tie, the earlier pattern. */
function firstMetric(text: string, problemType: ProblemType): { text: string; pattern: MetricPattern; name: string } | undefined {
  let found: { index: number; order: number; text: string; pattern: MetricPattern; name: string } | undefined;
  METRIC_PATTERNS.forEach((pattern, order) => {
    const name = pattern.names[problemType];
    if (name === undefined) return;
    const match = pattern.pattern.exec(text);
    if (match === null) return;
    if (found === undefined || match.index < found.index || (match.index === found.index && order < found.order)) {
      found = { index: match.index, order, text: match[0], pattern, name };
    }
  });
  return found;
}

/** Forecast error metrics a description may name (the forecasting templates' names); all are errors, lower is better. */
const FORECAST_PATTERNS: readonly { pattern: RegExp; name: string }[] = [
  { pattern: /\bmase\b|\bmean[\s_-]absolute[\s_-]scaled[\s_-]error\b/i, name: "mase" },
  { pattern: /\brmsse\b|\broot[\s_-]mean[\s_-]squared?[\s_-]scaled[\s_-]error\b/i, name: "rmsse" },
  { pattern: /\bsmape\b|\bsymmetric[\s_-]mean[\s_-]absolute[\s_-]percentage[\s_-]error\b/i, name: "smape" },
  { pattern: /\bwape\b|\bweighted[\s_-](?:mean[\s_-])?absolute[\s_-]percentage[\s_-]error\b/i, name: "wape" },
  { pattern: /\bmape\b|\bmean[\s_-]absolute[\s_-]percentage[\s_-]error\b/i, name: "mape" },
  { pattern: /\brmse\b|\broot[\s_-]mean[\s_-]squared?[\s_-]error\b/i, name: "rmse" },
  { pattern: /\bmse\b|\bmean[\s_-]squared?[\s_-]error\b/i, name: "mse" },
  { pattern: /\bmae\b|\bmean[\s_-]absolute[\s_-]error\b/i, name: "mae" },
];

/** The metric of a forecast when the description names none: scaled by each series' own naive error, so series of any size count alike. */
export const DEFAULT_FORECAST_METRIC = "mase";

/**
 * A forecast's metric: the first forecast error the description names
 * (MASE, RMSSE, sMAPE, WAPE, MAPE, RMSE, MSE, MAE), else MASE.
 */
export function chooseForecastMetric(description: string): MetricChoice {
  let found: { index: number; name: string; text: string } | undefined;
  for (const { pattern, name } of FORECAST_PATTERNS) {
    const match = pattern.exec(description);
    if (match !== null && (found === undefined || match.index < found.index)) found = { index: match.index, name, text: match[0] };
  }
  if (found !== undefined) {
    return {
      metric: create(MetricSchema, { name: found.name, greaterIsBetter: false }),
      evidence: `the description mentions "${found.text}"`,
    };
  }
  return {
    metric: create(MetricSchema, { name: DEFAULT_FORECAST_METRIC, greaterIsBetter: false }),
    evidence: "the description names no forecast metric; MASE, the default for forecasts",
  };
}
