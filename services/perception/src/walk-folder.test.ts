import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { walkFolder } from "./walk-folder.js";

const root = mkdtempSync(join(tmpdir(), "mlzero-walk-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("walkFolder", () => {
  it("lists nested files in order, skipping hidden ones and folder links", async () => {
    mkdirSync(join(root, "b/deep"), { recursive: true });
    mkdirSync(join(root, ".hidden"));
    mkdirSync(join(root, "__MACOSX"));
    writeFileSync(join(root, "a.csv"), "x\n1\n");
    writeFileSync(join(root, "b/deep/c.txt"), "hello");
    writeFileSync(join(root, ".hidden/secret.csv"), "x\n");
    writeFileSync(join(root, "__MACOSX/._a.csv"), "x");
    symlinkSync(join(root, "a.csv"), join(root, "link.csv"));
    symlinkSync(root, join(root, "loop"));
    const { files, truncated } = await walkFolder(root);
    expect(files.map((file) => [file.path, file.sizeBytes])).toEqual([
      ["a.csv", 4],
      ["b/deep/c.txt", 5],
      ["link.csv", 4],
    ]);
    expect(truncated).toBe(false);
  });
});
