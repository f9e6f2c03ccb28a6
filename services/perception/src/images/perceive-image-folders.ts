import { create } from "@bufbuild/protobuf";
import { ImageLayout, ImageSpecSchema, type ImageSpec } from "@mlzero/proto";
import {
  classFoldersPlace,
  classFolderTask,
  requireTestFolder,
  type ClassFolderTask,
  type ClassFoldersInput,
} from "../class-folder-task.js";
import { sampleImages } from "./sample-images.js";

/** What perception learns about images sorted into class folders. */
export interface ImageFolderTask extends ClassFolderTask {
  spec: ImageSpec;
}

/** What {@link perceiveImageFolders} works from. */
export type PerceiveImageFoldersOptions = ClassFoldersInput;

/**
 * Works out an image classification task from class folders: the classes
 * are the subfolder names, the images to predict those of the test folder,
 * named in the output by their path relative to it. A sample submission (or
 * the description) names the output's columns, else "image" and "label".
 */
export async function perceiveImageFolders(options: PerceiveImageFoldersOptions): Promise<ImageFolderTask> {
  const { log } = options;
  const folders = requireTestFolder(options.folders, { train: "training images", test: "images" });
  const where = classFoldersPlace(folders);
  const trainImages = [...folders.classes.values()].flat();
  const labelValues = [...folders.classes.keys()];
  log.add("modality", "image", `${trainImages.length} images in class folders and ${folders.testFiles.length} images to predict`);
  log.add(
    "images.layout",
    "folders",
    `${where} holds ${labelValues.length} subfolders of images, one per class (${labelValues.slice(0, 10).join(", ")}${labelValues.length > 10 ? ", ..." : ""})`,
  );
  log.add("images.test_root", folders.testRoot, `the folder name says it holds the images to predict (${folders.testFiles.length} images)`);
  const task = classFolderTask({ ...options, folders, defaultId: "image" });

  const sample = await sampleImages([...folders.classes.values(), folders.testFiles], log);
  const spec = create(ImageSpecSchema, {
    layout: ImageLayout.FOLDERS,
    root: folders.root,
    testRoot: folders.testRoot,
    trainImages: BigInt(trainImages.length),
    testImages: BigInt(folders.testFiles.length),
    ...sample,
  });
  return { ...task, spec };
}
