import { describe, expect, it } from "vitest";
import { matchesFilter } from "./payload-filter.js";

describe("matchesFilter", () => {
  const payload = { tool: "lightgbm", iteration: 2, ok: false, tags: ["a", "b"], meta: { tenant: "t" } };

  it("passes everything without a filter", () => {
    expect(matchesFilter(payload, undefined)).toBe(true);
    expect(matchesFilter(payload, {})).toBe(true);
  });

  it("compares values strictly, never across types", () => {
    expect(matchesFilter(payload, { must: [{ key: "iteration", match: { value: 2 } }] })).toBe(true);
    expect(matchesFilter(payload, { must: [{ key: "iteration", match: { value: "2" } }] })).toBe(false);
    expect(matchesFilter(payload, { must: [{ key: "ok", match: { value: false } }] })).toBe(true);
  });

  it("does not walk into arrays or past scalars with a dotted key", () => {
    expect(matchesFilter(payload, { must: [{ key: "tool.name", match: { value: "lightgbm" } }] })).toBe(false);
    expect(matchesFilter(payload, { must: [{ key: "meta.tenant", match: { any: ["t", "u"] } }] })).toBe(true);
  });
});
