import { FailedPreconditionError } from "@mlzero/errors";
import { OUTPUTS_DIR, type ProgramConfig } from "@mlzero/program";
import { ProblemType, type Fix, type PerceptualContext } from "@mlzero/proto";

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

/**
 * The facts a program template needs, from perception's context and the
 * analyzer's fix. Paths are relative to the iteration folder: the data sits
 * in `../input`, outputs go to `outputs/`.
 */
export function programConfigFor({ context, fix, timeLimitSeconds, seed }: ProgramConfigOptions): ProgramConfig {
  const problemType = PROBLEM_TYPE_NAMES[context.problemType];
  if (!problemType) throw new FailedPreconditionError("perception did not settle the problem type");
  if (!context.trainFile || !context.testFile) throw new FailedPreconditionError("perception found no train and test files");
  const formatOf = (file: string) => context.files.find((candidate) => candidate.path === file)?.format ?? "csv";
  const labelColumn = fix?.labelColumn || context.labelColumn;
  const output = context.output;
  return {
    train_path: `../input/${context.trainFile}`,
    test_path: `../input/${context.testFile}`,
    train_format: formatOf(context.trainFile),
    test_format: formatOf(context.testFile),
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
    // Perception only understands tables so far: no forecasting or image facts to pass on.
    timeseries: null,
    images: null,
  };
}
