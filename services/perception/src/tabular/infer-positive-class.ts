import { ProblemType } from "@mlzero/proto";
import type { InferenceLog } from "../inference-log.js";
import type { TableFile } from "./table-file.js";

/** Metrics that score a binary task on probabilities, not on labels. */
const PROBABILITY_METRICS = new Set(["roc_auc", "log_loss"]);

/** Label texts that usually mean "the event happened". */
const POSITIVE_TEXTS = ["1", "1.0", "true", "yes", "y", "t", "positive", "pos"];

/** What the choice depends on. */
export interface PositiveClassFacts {
  problemType: ProblemType;
  metric: string;
  label: string;
  labelValues: readonly string[];
  /** The sample submission, when there is one. */
  sample: TableFile | undefined;
}

/**
 * For a binary task whose predictions should be probabilities, the class
 * whose probability goes in the label column; "" when labels are expected.
 * A sample submission decides (fractions in its label column mean
 * probabilities, label values mean labels); without one, a metric scored on
 * probabilities (AUC, log loss) does.
 */
export function inferPositiveClass(facts: PositiveClassFacts, log: InferenceLog): string {
  if (facts.problemType !== ProblemType.BINARY || facts.labelValues.length !== 2) return "";
  const examples = facts.sample?.columns.find((column) => column.name === facts.label)?.examples ?? [];
  let evidence: string;
  if (examples.length > 0) {
    const fractions = examples.filter((value) => !facts.labelValues.includes(value) && isProbability(value));
    if (fractions.length === 0) return "";
    evidence = `the sample submission's ${facts.label} column holds probabilities (e.g. ${fractions[0]})`;
  } else if (PROBABILITY_METRICS.has(facts.metric)) {
    evidence = `the metric ${facts.metric} scores probabilities`;
  } else {
    return "";
  }
  const positive = facts.labelValues.find((value) => POSITIVE_TEXTS.includes(value.toLowerCase())) ?? facts.labelValues[1]!;
  log.add("output.positive_class", positive, `${evidence}; the ${facts.label} column gets the probability of "${positive}"`);
  return positive;
}

function isProbability(text: string): boolean {
  const value = Number(text);
  return text.trim() !== "" && Number.isFinite(value) && value >= 0 && value <= 1;
}
