import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/run-cli.js";

/** The message a user sees: one line on stderr or stdout, no stack trace. */
function expectOneLineError(result: { code: number | null; stdout: string; stderr: string }, pattern: RegExp): void {
  const all = `${result.stdout}\n${result.stderr}`;
  expect(result.code, all).not.toBe(0);
  expect(all).not.toMatch(/^\s+at /m);
  const matching = all.split("\n").filter((line) => pattern.test(line));
  expect(matching, all).toHaveLength(1);
}

describe("mlzero run on bad input", () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), "mlzero-bad-"));
  });

  const run = (input: string) => runCli(["run", input, "--out", path.join(root, `out-${path.basename(input)}`)], { timeoutMs: 120_000 });

  it("a missing directory", async () => {
    expectOneLineError(await run(path.join(root, "nope")), /input folder .*nope does not exist/);
  });

  it("an empty directory", async () => {
    const dir = path.join(root, "empty");
    await mkdir(dir);
    expectOneLineError(await run(dir), /input folder .*empty is empty/);
  });

  it("no recognisable data", async () => {
    const dir = path.join(root, "pictures");
    await mkdir(dir);
    await writeFile(path.join(dir, "cat.bin"), randomBytes(256));
    await writeFile(path.join(dir, "notes.md"), "nothing to learn here\n");
    expectOneLineError(await run(dir), /no data files found/);
  });

  it("a binary file posing as CSV", async () => {
    const dir = path.join(root, "binary");
    await mkdir(dir);
    await writeFile(path.join(dir, "train.csv"), Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0]), randomBytes(2048)]));
    await writeFile(path.join(dir, "test.csv"), "a,b\n1,2\n");
    expectOneLineError(await run(dir), /train\.csv .*binary/);
  });

  it("a label column that cannot be inferred says how to name it", async () => {
    const dir = path.join(root, "nolabel");
    await mkdir(dir);
    const rows = (n: number) => Array.from({ length: n }, (_, i) => `${i},${i % 7},${(i * 13) % 11}`).join("\n");
    await writeFile(path.join(dir, "train.csv"), `row,alpha,beta\n${rows(50)}\n`);
    await writeFile(path.join(dir, "test.csv"), `row,alpha,beta\n${rows(20)}\n`);
    const result = await run(dir);
    expectOneLineError(result, /cannot tell which column to predict/);
    expect(`${result.stdout}${result.stderr}`).toMatch(/label column/);
  });

  it("bad flags", async () => {
    expectOneLineError(await runCli(["run", root, "--out", root, "--max-iterations", "zero"]), /--max-iterations must be a positive/);
    expectOneLineError(await runCli(["run", root]), /needs --out/);
    expectOneLineError(await runCli(["run", root, "--out", root, "--gpus", "1.5"]), /--gpus must be a positive whole number/);
  });
});
