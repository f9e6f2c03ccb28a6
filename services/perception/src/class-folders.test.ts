import { describe, expect, it } from "vitest";
import { findClassFolders } from "./class-folders.js";
import { isImageFile } from "./images/image-files.js";
import type { FolderFile } from "./walk-folder.js";

const files = (...paths: string[]): FolderFile[] => paths.map((path) => ({ path, absolutePath: `/data/${path}`, sizeBytes: 1 }));
const shape = (found: ReturnType<typeof findClassFolders>) =>
  found && {
    root: found.root,
    classes: Object.fromEntries([...found.classes].map(([name, group]) => [name, group.map((file) => file.path)])),
    testRoot: found.testRoot,
    test: found.testFiles.map((file) => file.path),
  };

describe("findClassFolders", () => {
  it("finds train/<class>/ and the test folder, whatever the depth of the files below a class", () => {
    const found = findClassFolders(
      files("train/dog/1.png", "train/cat/a/2.jpg", "train/cat/3.png", "train/notes.txt", "test/x.png", "test/sub/y.png", "labels.csv"),
      isImageFile,
    );
    expect(shape(found)).toEqual({
      root: "train",
      classes: { cat: ["train/cat/a/2.jpg", "train/cat/3.png"], dog: ["train/dog/1.png"] },
      testRoot: "test",
      test: ["test/x.png", "test/sub/y.png"],
    });
  });

  it("skips a folder whose subfolders are splits, and a validation split", () => {
    const found = findClassFolders(
      files("data/train/a/1.png", "data/train/b/2.png", "data/val/a/3.png", "data/val/b/4.png", "data/test/5.png"),
      isImageFile,
    );
    expect(shape(found)).toMatchObject({ root: "data/train", testRoot: "data/test", test: ["data/test/5.png"] });
  });

  it("takes class folders without a train name, and reports a missing test folder", () => {
    expect(shape(findClassFolders(files("images/red/1.png", "images/blue/2.png", "unlabelled/3.png"), isImageFile))).toMatchObject({
      root: "images",
      testRoot: "unlabelled",
    });
    expect(shape(findClassFolders(files("train/a/1.png", "train/b/2.png"), isImageFile))).toMatchObject({
      root: "train",
      testRoot: undefined,
      test: [],
    });
  });

  it("needs two classes of examples", () => {
    expect(findClassFolders(files("train/a/1.png", "test/2.png"), isImageFile)).toBeUndefined();
    expect(findClassFolders(files("train/a/1.txt", "train/b/2.txt", "test/3.txt"), isImageFile)).toBeUndefined();
    expect(findClassFolders(files("logo.png", "train.csv"), isImageFile)).toBeUndefined();
  });
});
