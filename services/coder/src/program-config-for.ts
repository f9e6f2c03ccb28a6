import { FailedPreconditionError } from "@mlzero/errors";
import { OUTPUTS_DIR, type ImagesConfig, type ProgramConfig, type TimeSeriesConfig } from "@mlzero/program";
import { ImageLayout, ProblemType, type Fix, type ImageSpec, type PerceptualContext, type TimeSeriesSpec } from "@mlzero/proto";

const PROBLEM_TYPE_NAMES: Partial<Record<ProblemType, string>> = {
  [ProblemType.BINARY]: "binary",
  [ProblemType.MULTICLASS]: "multiclass",
  [ProblemType.REGRESSION]: "regression",
};

/** Share of the run's wall-clock limit a program may spend training; the rest loads, predicts and writes. */
const TRAINING_SHARE = 0.6;

/** Options for {@link programConfigFor}. */
export interface ProgramConfigOptions {
  context: PerceptualContext;
  fix: Fix | undefined;
  /** Wall-clock seconds the program will be given. */
  timeLimitSeconds: number;
  seed: number;
}

/** A path of the data folder ("" is the folder itself) as the program, in its iteration folder, sees it. */
function inputPath(path: string): string {
  return path === "" ? "../input" : `../input/${path}`;
}

/**
 * The facts a program template needs, from perception's context and the
 * analyzer's fix. Paths are relative to the iteration folder: the data sits
 * in `../input`, tables perception derived from it (Excel as CSV, joined
 * tables, gathered text files) in `../derived`, outputs go to `outputs/`.
 */
export function programConfigFor({ context, fix, timeLimitSeconds, seed }: ProgramConfigOptions): ProgramConfig {
  const problemType = PROBLEM_TYPE_NAMES[context.problemType];
  if (!problemType) throw new FailedPreconditionError("perception did not settle the problem type");
  if (!context.trainFile || !context.testFile) throw new FailedPreconditionError("perception found no train and test files");
  // Class folders of images are not tables: the template lists them and reads no format.
  const folders = context.images?.layout === ImageLayout.FOLDERS;
  const formatOf = (file: string) => (folders ? "" : (context.files.find((candidate) => candidate.path === file)?.format ?? "csv"));
  // Derived tables sit in the task folder, the iteration folder's parent.
  const table = (file: string, derived: string) =>
    derived ? { path: `../${derived}`, format: "csv" } : { path: inputPath(file), format: formatOf(file) };
  const train = table(context.trainFile, context.derivedTrainFile);
  const test = table(context.testFile, context.derivedTestFile);
  const labelColumn = fix?.labelColumn || context.labelColumn;
  const output = context.output;
  return {
    train_path: train.path,
    test_path: test.path,
    train_format: train.format,
    test_format: test.format,
    label_column: labelColumn,
    id_column: context.idColumn || null,
    ignore_columns: context.idColumn && context.idColumn !== labelColumn ? [context.idColumn] : [],
    problem_type: problemType,
    metric: context.metric?.name ?? "",
    output_path: `${OUTPUTS_DIR}/${output?.fileName || "predictions.csv"}`,
    output_columns: output?.columns.length ? [...output.columns] : [context.idColumn, labelColumn].filter(Boolean),
    class_probabilities: output?.classProbabilities ?? false,
    positive_class: output?.positiveClass || null,
    label_values: [...context.labelValues],
    time_limit_seconds: Math.max(10, Math.floor(timeLimitSeconds * TRAINING_SHARE)),
    reduce_level: fix?.reduceLevel ?? 0,
    seed,
    timeseries: context.timeSeries ? timeSeriesConfig(context.timeSeries) : null,
    images: context.images ? imagesConfig(context.images) : null,
  };
}

function timeSeriesConfig(spec: TimeSeriesSpec): TimeSeriesConfig {
  return {
    item_column: spec.itemColumn || null,
    timestamp_column: spec.timestampColumn,
    horizon: Math.max(1, spec.horizon),
    frequency: spec.frequency || null,
    season_length: spec.seasonLength || null,
    known_covariates: [...spec.knownCovariates],
    static_features_path: spec.staticFeaturesFile ? inputPath(spec.staticFeaturesFile) : null,
  };
}

function imagesConfig(spec: ImageSpec): ImagesConfig {
  if (spec.layout === ImageLayout.FOLDERS) {
    return { layout: "folders", root: inputPath(spec.root), path_column: null, test_root: inputPath(spec.testRoot) };
  }
  if (spec.layout === ImageLayout.TABLE) {
    return { layout: "csv", root: inputPath(spec.root), path_column: spec.pathColumn || null, test_root: null };
  }
  throw new FailedPreconditionError("perception did not settle how the images are laid out");
}
