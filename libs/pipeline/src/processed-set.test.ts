import { describe, expect, it } from "vitest";
import { ProcessedSet } from "./processed-set.js";

describe("ProcessedSet", () => {
  it("runs a key's work once, also while the first run is still going", async () => {
    const processed = new ProcessedSet();
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = processed.once("a", async () => {
      runs++;
      await gate;
    });
    expect(await processed.once("a", async () => void runs++)).toBe(false);
    release();
    expect(await first).toBe(true);
    expect(await processed.once("a", async () => void runs++)).toBe(false);
    expect(runs).toBe(1);
  });

  it("leaves a key free when its work fails, so a redelivery runs it again", async () => {
    const processed = new ProcessedSet();
    await expect(processed.once("a", async () => Promise.reject(new Error("transient")))).rejects.toThrow("transient");
    expect(processed.has("a")).toBe(false);
    expect(await processed.once("a", async () => undefined)).toBe(true);
  });

  it("forgets the oldest keys past its capacity", () => {
    const processed = new ProcessedSet(2);
    for (const key of ["a", "b", "c"]) processed.add(key);
    expect(["a", "b", "c"].map((key) => processed.has(key))).toEqual([false, true, true]);
  });
});
