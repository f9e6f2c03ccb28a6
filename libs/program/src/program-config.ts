/**
 * Facts a program template needs, written into the program as one JSON
 * literal. Keys are snake_case because the program that reads them is Python.
 * Paths are relative to the iteration folder the program runs in, so the same
 * program runs in a local sandbox and in a Kubernetes Job.
 */
export interface ProgramConfig {
  train_path: string;
  test_path: string;
  /** "csv" | "tsv" | "json" | "jsonl" | "parquet" */
  train_format: string;
  test_format: string;
  label_column: string;
  /** Id column of the test file, copied into the predictions; null when none. */
  id_column: string | null;
  /** Columns the model must not use as features (ids, leaks). */
  ignore_columns: string[];
  /** "binary" | "multiclass" | "regression" */
  problem_type: string;
  /** e.g. "roc_auc", "accuracy", "f1_macro", "log_loss", "rmse", "mae", "r2" */
  metric: string;
  /** Where predictions go, e.g. "outputs/submission.csv". */
  output_path: string;
  /** Output columns in order. */
  output_columns: string[];
  /** One probability column per class instead of a label column. */
  class_probabilities: boolean;
  /** Binary tasks scored on probabilities: the label column holds P(this class); null for labels. */
  positive_class: string | null;
  /** Training labels for classification, as text. */
  label_values: string[];
  /** Seconds the program may spend training, leaving room to predict and write. */
  time_limit_seconds: number;
  /** 0 = full effort; each step uses less data or simpler models (after OOM or timeout). */
  reduce_level: number;
  seed: number;
}

/** Folder, inside the iteration folder, where a program writes its outputs. */
export const OUTPUTS_DIR = "outputs";

/** Files the executor writes beside the program in every iteration folder. */
export const ITERATION_FILES = {
  program: "main.py",
  launcher: "run.sh",
  stdout: "stdout.log",
  stderr: "stderr.log",
} as const;
