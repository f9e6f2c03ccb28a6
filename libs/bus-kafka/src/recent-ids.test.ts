import { describe, expect, it } from "vitest";
import { createRecentIds } from "./recent-ids.js";

describe("createRecentIds", () => {
  it("remembers up to its capacity, dropping the least recently added", () => {
    const recent = createRecentIds(2);
    recent.add("a");
    recent.add("b");
    recent.add("a"); // refreshed: now newer than b
    recent.add("c");
    expect(["a", "b", "c"].filter((id) => recent.has(id))).toEqual(["a", "c"]);
  });
});
