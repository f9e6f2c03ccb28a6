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
  /** e.g. "roc_auc", "accuracy", "f1_macro", "log_loss", "rmse", "mae", "r2"; forecasts: "mase", "rmsse", "smape", "mape", "wape" */
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
  /** Forecasting facts; absent or null for every task that is not a time series forecast. */
  timeseries?: TimeSeriesConfig | null;
  /** Where the images are and how they are listed; absent or null for tasks without images. */
  images?: ImagesConfig | null;
}

/**
 * A forecasting task in long format: one row per (item, time stamp) in
 * train_path, label_column the value to forecast, problem_type "regression"
 * (the proto's ProblemType has no forecasting value yet). The program forecasts
 * `horizon` steps after each item's last training time stamp. test_path, when
 * not "", lists the (item, time stamp) rows to forecast, with the known
 * covariates' future values; when "", the program makes those rows itself
 * from the frequency. Predictions are written per (item, time stamp), in the
 * columns output_columns names (item, time stamp, id_column, label_column).
 */
export interface TimeSeriesConfig {
  /** Column naming the series a row belongs to; null when the file holds one series. */
  item_column: string | null;
  /** Column of the time stamps, as pandas.to_datetime reads them. */
  timestamp_column: string;
  /** Steps to forecast after each item's last training time stamp (at least 1). */
  horizon: number;
  /** pandas offset alias of one step ("D", "W-SUN", "MS", "h", "15min"); null: inferred from the time stamps. */
  frequency: string | null;
  /** Seasonal period in steps (7 for daily data, 12 for monthly); null: derived from the frequency. */
  season_length: number | null;
  /** Columns whose future values are known in advance (promotions, holidays), present in train and test files. */
  known_covariates: string[];
  /** Table with one row of static features per item, joined on item_column; null when none. */
  static_features_path: string | null;
}

/**
 * An image classification task: label_column holds the class, problem_type is
 * "binary" or "multiclass". Paths are relative to the iteration folder; a path
 * inside a table is relative to `root` (an absolute one stays as it is).
 */
export interface ImagesConfig {
  /**
   * "folders": the training images sit in one subfolder per class under
   * `root` (the subfolder name is the label) and train_path is not read;
   * "csv": train_path is a table listing each image in path_column with its
   * label in label_column.
   */
  layout: "folders" | "csv";
  /** Folder of the training images (folders) or the folder table paths are relative to (csv), e.g. "../input/images". */
  root: string;
  /** Column of the train and test tables holding each image's path; null when no table lists images. */
  path_column: string | null;
  /**
   * Folder of the unlabelled test images, predicted in sorted path order; the
   * path relative to it is written in id_column. null: test_path lists the
   * test images in path_column.
   */
  test_root: string | null;
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
