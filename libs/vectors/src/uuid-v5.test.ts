import { describe, expect, it } from "vitest";
import { isUuid, uuidV5 } from "./uuid-v5.js";

describe("uuidV5", () => {
  it("matches the RFC 4122 reference value", () => {
    expect(uuidV5("www.example.com", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")).toBe("2ed6657d-e927-568b-95e1-2665a8aea6a2");
  });

  it("is deterministic, name-sensitive and well formed", () => {
    expect(uuidV5("a")).toBe(uuidV5("a"));
    expect(uuidV5("a")).not.toBe(uuidV5("b"));
    expect(isUuid(uuidV5("a"))).toBe(true);
    expect(uuidV5("a")[14]).toBe("5");
  });

  it("rejects a namespace that is not a UUID", () => {
    expect(() => uuidV5("a", "nope")).toThrow(/not a UUID/);
  });
});
