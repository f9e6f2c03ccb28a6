import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { InvalidInputError } from "@mlzero/errors";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { allowedRootOf, inputFolderOf, resolveInput } from "./stage-input.js";

let dir: string;
let root: string;
let outside: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "stage-input-"));
  root = path.join(dir, "shared");
  outside = path.join(dir, "private");
  for (const folder of [path.join(root, "churn"), outside]) {
    await mkdir(folder, { recursive: true });
    await writeFile(path.join(folder, "train.csv"), "id,y\n1,a\n");
  }
  await symlink(outside, path.join(root, "escape"));
  await symlink(path.join(root, "churn"), path.join(outside, "inside-link"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The message of the InvalidInputError `resolveInput` fails with. */
async function refusal(input: string, roots: string[] = [root]): Promise<string> {
  const error = await resolveInput(input, { allowedRoots: roots }).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(InvalidInputError);
  return (error as Error).message;
}

describe("resolveInput with allowed roots", () => {
  it("accepts a folder under a root, as a path or a file:// URI", async () => {
    const churn = path.join(root, "churn");
    expect(await resolveInput(churn, { allowedRoots: [root] })).toEqual({ source: churn, given: churn });
    expect((await resolveInput(pathToFileURL(churn).href, { allowedRoots: [root] })).source).toBe(churn);
    expect((await resolveInput(root, { allowedRoots: [root] })).source).toBe(root);
    // A link from outside into a root reads what is inside.
    expect((await resolveInput(path.join(outside, "inside-link"), { allowedRoots: [root] })).source).toBe(churn);
  });

  it("refuses a folder outside every root, naming the roots: directly, through .., through a symbolic link, missing or not", async () => {
    expect(await refusal(outside)).toBe(`input ${JSON.stringify(outside)} is outside the allowed roots: ${root}`);
    expect(await refusal(`${root}/../private`)).toMatch(/is outside the allowed roots/);
    expect(await refusal(path.join(root, "escape"))).toMatch(/is outside the allowed roots/);
    expect(await refusal(path.join(root, "escape", "nothing-here"))).toMatch(/is outside the allowed roots/);
    expect(await refusal(path.join(dir, "shared-not"))).toMatch(/is outside the allowed roots/);
    expect(await refusal(pathToFileURL(outside).href)).toMatch(/is outside the allowed roots/);
    expect(await refusal(outside, [root, path.join(dir, "other")])).toMatch(
      new RegExp(`allowed roots: ${root}, ${path.join(dir, "other")}$`),
    );
  });

  it("refuses relative paths and URIs that are not file://", async () => {
    expect(await refusal("shared/churn")).toMatch(/must be an absolute path or a file:\/\/ URI/);
    expect(await refusal("s3://bucket/churn")).toMatch(/only paths and file:\/\/ URIs/);
    expect(await refusal("file://elsewhere/data")).toMatch(/not a usable file:\/\/ URI/);
    expect(await refusal("   ")).toMatch(/names no input folder/);
  });

  it("without roots, takes any local folder, as before; denied roots refuse a folder in or above them", async () => {
    expect((await resolveInput(outside)).source).toBe(outside);
    const denied = await resolveInput(path.join(root, "churn"), { deniedRoots: [root] }).catch((caught: Error) => caught);
    expect((denied as Error).message).toMatch(/in or above the gateway's workspace/);
    const above = await resolveInput(dir, { deniedRoots: [root] }).catch((caught: Error) => caught);
    expect((above as Error).message).toMatch(/in or above the gateway's workspace/);
  });
});

describe("allowedRootOf and inputFolderOf", () => {
  it("takes absolute paths and file:// URIs only", () => {
    expect(allowedRootOf("file:///srv/data/")).toBe("/srv/data");
    expect(allowedRootOf(" /srv/data ")).toBe("/srv/data");
    expect(() => allowedRootOf("data")).toThrow(/not an absolute path/);
    expect(() => inputFolderOf("/srv/\0data")).toThrow(/NUL/);
  });
});
