import { InvalidInputError } from "@mlzero/errors";
import { ProblemType, type Metric, type OutputSpec } from "@mlzero/proto";
import { relativeTo, type ClassFolders } from "./class-folders.js";
import { findSampleSubmission, folderOutput } from "./folder-output.js";
import type { InferenceLog } from "./inference-log.js";
import { chooseMetric } from "./metrics.js";
import { inferPositiveClass } from "./tabular/infer-positive-class.js";
import type { TableFile } from "./tabular/table-file.js";

/** What perception learns about any examples sorted into class folders, whatever the files are. */
export interface ClassFolderTask {
  folders: ClassFolders & { testRoot: string };
  label: string;
  id: string;
  problemType: ProblemType;
  labelValues: string[];
  metric: Metric;
  output: OutputSpec;
  sampleSubmission?: TableFile;
}

/** What perceiving any examples in class folders works from. */
export interface ClassFoldersInput {
  folders: ClassFolders;
  /** The folder's tables, where a sample submission may be. */
  tables: readonly TableFile[];
  description: string;
  inputFileNames: readonly string[];
  log: InferenceLog;
}

/** What {@link classFolderTask} works from. */
export interface ClassFolderTaskOptions extends ClassFoldersInput {
  folders: ClassFolders & { testRoot: string };
  /** The id column's name when nothing names it (e.g. "image", "file"). */
  defaultId: string;
}

/** Where the class folders are, as messages say it. */
export function classFoldersPlace(folders: ClassFolders): string {
  return folders.root === "" ? "the data folder" : `${folders.root}/`;
}

/**
 * The class folders, known to have a folder of examples to predict; without
 * one there is no task, so the error says where to put them. `examples` names
 * the training files and the files to predict in the message.
 */
export function requireTestFolder(folders: ClassFolders, examples: { train: string; test: string }): ClassFolders & { testRoot: string } {
  if (folders.testRoot === undefined || folders.testFiles.length === 0) {
    const trainCount = [...folders.classes.values()].flat().length;
    throw new InvalidInputError(
      `found ${trainCount} ${examples.train} in ${folders.classes.size} class folders under ${classFoldersPlace(folders)} but no ${examples.test} to predict: put them in a folder named "test"`,
    );
  }
  return { ...folders, testRoot: folders.testRoot };
}

/**
 * The classification task of class folders: the classes are the subfolder
 * names, the examples to predict those of the test folder, named in the
 * output by their path relative to it. A sample submission (or the
 * description) names the output's columns, else `defaultId` and "label".
 */
export function classFolderTask(options: ClassFolderTaskOptions): ClassFolderTask {
  const { folders, log } = options;
  const labelValues = [...folders.classes.keys()];
  const problemType = labelValues.length === 2 ? ProblemType.BINARY : ProblemType.MULTICLASS;
  log.add("problem_type", ProblemType[problemType].toLowerCase(), `${labelValues.length} class folders`);
  const testIds = folders.testFiles.map((file) => relativeTo(file.path, folders.testRoot));
  const sampleSubmission = findSampleSubmission(options.tables, testIds, log);
  const { metric, evidence } = chooseMetric(options.description, problemType);
  log.add("metric", metric.name, evidence);
  const named = folderOutput({
    sample: sampleSubmission,
    testIds,
    labelValues,
    description: options.description,
    inputFileNames: options.inputFileNames,
    defaults: { id: options.defaultId, label: "label" },
    log,
  });
  named.output.positiveClass = inferPositiveClass(
    { problemType, metric: metric.name, label: named.label, labelValues, sample: sampleSubmission },
    log,
  );
  return {
    folders,
    label: named.label,
    id: named.id,
    problemType,
    labelValues,
    metric,
    output: named.output,
    ...(sampleSubmission === undefined ? {} : { sampleSubmission }),
  };
}
