import { create } from "@bufbuild/protobuf";
import { InvalidInputError } from "@mlzero/errors";
import { ImageLayout, ImageSpecSchema, ProblemType, type ImageSpec, type Metric, type OutputSpec } from "@mlzero/proto";
import { relativeTo, type ClassFolders } from "../class-folders.js";
import type { InferenceLog } from "../inference-log.js";
import { chooseMetric } from "../metrics.js";
import { findSampleSubmission, folderOutput } from "../folder-output.js";
import { inferPositiveClass } from "../tabular/infer-positive-class.js";
import type { TableFile } from "../tabular/table-file.js";
import { sampleImages } from "./sample-images.js";

/** What perception learns about images sorted into class folders. */
export interface ImageFolderTask {
  folders: ClassFolders & { testRoot: string };
  label: string;
  id: string;
  problemType: ProblemType;
  labelValues: string[];
  metric: Metric;
  output: OutputSpec;
  spec: ImageSpec;
  sampleSubmission?: TableFile;
}

/** What {@link perceiveImageFolders} works from. */
export interface PerceiveImageFoldersOptions {
  folders: ClassFolders;
  /** The folder's tables, where a sample submission may be. */
  tables: readonly TableFile[];
  description: string;
  inputFileNames: readonly string[];
  log: InferenceLog;
}

/**
 * Works out an image classification task from class folders: the classes
 * are the subfolder names, the images to predict those of the test folder,
 * named in the output by their path relative to it. A sample submission (or
 * the description) names the output's columns, else "image" and "label".
 */
export async function perceiveImageFolders(options: PerceiveImageFoldersOptions): Promise<ImageFolderTask> {
  const { folders, log } = options;
  const where = folders.root === "" ? "the data folder" : `${folders.root}/`;
  const trainImages = [...folders.classes.values()].flat();
  if (folders.testRoot === undefined || folders.testFiles.length === 0) {
    throw new InvalidInputError(
      `found ${trainImages.length} training images in ${folders.classes.size} class folders under ${where} but no images to predict: put them in a folder named "test"`,
    );
  }
  const testRoot = folders.testRoot;
  const labelValues = [...folders.classes.keys()];
  log.add("modality", "image", `${trainImages.length} images in class folders and ${folders.testFiles.length} images to predict`);
  log.add(
    "images.layout",
    "folders",
    `${where} holds ${labelValues.length} subfolders of images, one per class (${labelValues.slice(0, 10).join(", ")}${labelValues.length > 10 ? ", ..." : ""})`,
  );
  log.add("images.test_root", testRoot, `the folder name says it holds the images to predict (${folders.testFiles.length} images)`);

  const problemType = labelValues.length === 2 ? ProblemType.BINARY : ProblemType.MULTICLASS;
  log.add("problem_type", ProblemType[problemType].toLowerCase(), `${labelValues.length} class folders`);
  const testIds = folders.testFiles.map((file) => relativeTo(file.path, testRoot));
  const sampleSubmission = findSampleSubmission(options.tables, testIds, log);
  const { metric, evidence } = chooseMetric(options.description, problemType);
  log.add("metric", metric.name, evidence);
  const named = folderOutput({
    sample: sampleSubmission,
    testIds,
    labelValues,
    description: options.description,
    inputFileNames: options.inputFileNames,
    defaults: { id: "image", label: "label" },
    log,
  });
  named.output.positiveClass = inferPositiveClass(
    { problemType, metric: metric.name, label: named.label, labelValues, sample: sampleSubmission },
    log,
  );

  const sample = await sampleImages([...folders.classes.values(), folders.testFiles], log);
  const spec = create(ImageSpecSchema, {
    layout: ImageLayout.FOLDERS,
    root: folders.root,
    testRoot,
    trainImages: BigInt(trainImages.length),
    testImages: BigInt(folders.testFiles.length),
    ...sample,
  });
  return {
    folders: { ...folders, testRoot },
    label: named.label,
    id: named.id,
    problemType,
    labelValues,
    metric,
    output: named.output,
    spec,
    ...(sampleSubmission === undefined ? {} : { sampleSubmission }),
  };
}
