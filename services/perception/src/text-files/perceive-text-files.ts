import { open } from "node:fs/promises";
import { InvalidInputError } from "@mlzero/errors";
import type { Cell } from "@mlzero/tables";
import {
  classFoldersPlace,
  classFolderTask,
  requireTestFolder,
  type ClassFolderTask,
  type ClassFoldersInput,
} from "../class-folder-task.js";
import { relativeTo } from "../class-folders.js";
import { writeDerivedTable } from "../derived-tables.js";
import type { FolderFile } from "../walk-folder.js";

/** Most bytes of one example file read: a document longer than this is cut. */
const MAX_DOCUMENT_BYTES = 1024 * 1024;

/** The column the gathered tables hold each document in. */
export const TEXT_COLUMN = "text";

/** What perception learns about text files sorted into class folders. */
export interface TextFolderTask extends ClassFolderTask {
  /** The gathered tables, relative to the task folder; undefined when there was no task folder to write them to. */
  derived?: { train: string; test: string };
}

/** What {@link perceiveTextFolders} works from. */
export interface PerceiveTextFoldersOptions extends ClassFoldersInput {
  /** The task's workspace folder, where the gathered tables go. */
  taskDir: string | undefined;
}

/**
 * Works out a text classification task from one text file per example in
 * class folders (train/<class>/*.txt, test/*.txt). Programs read tables, so
 * the files are gathered into two derived CSV tables: the training one with
 * each file's path (relative to the class folders' root), its text and its
 * class, the test one with each path (relative to the test folder) and text.
 */
export async function perceiveTextFolders(options: PerceiveTextFoldersOptions): Promise<TextFolderTask> {
  const { log } = options;
  const folders = requireTestFolder(options.folders, { train: "text files", test: "text files" });
  const where = classFoldersPlace(folders);
  const trainFiles = [...folders.classes.values()].flat();
  const labelValues = [...folders.classes.keys()];
  log.add(
    "modality",
    "text",
    `${trainFiles.length} text files in class folders and ${folders.testFiles.length} to predict, one document each`,
  );
  log.add(
    "text.layout",
    "folders",
    `${where} holds ${labelValues.length} subfolders of text files, one per class (${labelValues.slice(0, 10).join(", ")})`,
  );
  log.add("text.test_root", folders.testRoot, `the folder name says it holds the documents to predict (${folders.testFiles.length} files)`);
  const task = classFolderTask({ ...options, folders, defaultId: "file" });
  if (task.id === TEXT_COLUMN || task.label === TEXT_COLUMN) {
    throw new InvalidInputError(
      `the output column '${TEXT_COLUMN}' is the name the documents are gathered under: rename it in the sample submission`,
    );
  }

  let derived: TextFolderTask["derived"];
  if (options.taskDir === undefined) {
    log.add("derived_train_file", "", "no task folder to gather the documents into tables; programs cannot read them as they are");
  } else {
    const trainRows: Cell[][] = [];
    for (const [label, files] of folders.classes) {
      for (const file of files) trainRows.push([relativeTo(file.path, folders.root), await readDocument(file), label]);
    }
    const testRows: Cell[][] = [];
    for (const file of folders.testFiles) testRows.push([relativeTo(file.path, folders.testRoot), await readDocument(file)]);
    derived = {
      train: await writeDerivedTable(options.taskDir, "train.csv", [task.id, TEXT_COLUMN, task.label], trainRows),
      test: await writeDerivedTable(options.taskDir, "test.csv", [task.id, TEXT_COLUMN], testRows),
    };
    log.add(
      "derived_train_file",
      derived.train,
      `${trainRows.length} documents gathered into columns ${task.id}, ${TEXT_COLUMN}, ${task.label}`,
    );
    log.add("derived_test_file", derived.test, `${testRows.length} documents gathered into columns ${task.id}, ${TEXT_COLUMN}`);
  }
  return { ...task, ...(derived === undefined ? {} : { derived }) };
}

/** A document's text (its first MiB); bytes that are not UTF-8 become U+FFFD. */
async function readDocument(file: FolderFile): Promise<string> {
  const handle = await open(file.absolutePath, "r");
  try {
    const buffer = Buffer.alloc(Math.min(MAX_DOCUMENT_BYTES, file.sizeBytes));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return new TextDecoder("utf-8").decode(buffer.subarray(0, bytesRead)).replace(/^\uFEFF/, "");
  } finally {
    await handle.close();
  }
}
