import { basename, extname } from "node:path";

/**
 * The words of a file name without its extension, lower case: camelCase,
 * snake_case, kebab-case and dots all split, so "trainData.csv",
 * "train_data.csv" and "train-data.csv" all hold the word "train".
 */
export function nameWords(path: string): string[] {
  const stem = basename(path, extname(path));
  return stem
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word !== "");
}

/** Words that mark a file of labelled training rows. */
const TRAIN_WORDS = new Set(["train", "training", "trn", "learn", "learning", "labeled", "labelled"]);
/** Words that mark the rows to predict. */
const TEST_WORDS = new Set(["test", "testing", "tst", "eval", "evaluation", "holdout", "unlabeled", "unlabelled", "predict", "inference"]);
/** Words that mark a labelled validation split: data, but not the training file. */
const VALIDATION_WORDS = new Set(["val", "valid", "validation", "dev"]);

/** Whether a file name says it holds training rows. */
export function isTrainName(path: string): boolean {
  return nameWords(path).some((word) => TRAIN_WORDS.has(word));
}

/** Whether a file name says it holds the rows to predict. */
export function isTestName(path: string): boolean {
  const words = nameWords(path);
  return words.some((word) => TEST_WORDS.has(word)) && !words.some((word) => TRAIN_WORDS.has(word));
}

/** Whether a file name says it is a validation split. */
export function isValidationName(path: string): boolean {
  return nameWords(path).some((word) => VALIDATION_WORDS.has(word));
}

/** Whether a file name says it shows the expected output. */
export function isSampleSubmissionName(path: string): boolean {
  const words = nameWords(path);
  if (words.includes("submission") || words.includes("submit")) return true;
  const example = words.includes("sample") || words.includes("example") || words.includes("expected");
  return (
    example &&
    (words.includes("output") ||
      words.includes("prediction") ||
      words.includes("predictions") ||
      words.includes("result") ||
      words.includes("results"))
  );
}
