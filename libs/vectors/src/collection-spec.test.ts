import { FailedPreconditionError } from "@mlzero/errors";
import { describe, expect, it } from "vitest";
import { checkSameVectors } from "./collection-spec.js";

describe("checkSameVectors", () => {
  const spec = { dense: { embedding: { size: 3, distance: "Cosine" } }, sparse: { terms: { idf: true } } };

  it("accepts the same vectors in any key order, and an empty map as no map", () => {
    expect(() =>
      checkSameVectors("c", { sparse: { terms: { idf: true } }, dense: { embedding: { distance: "Cosine", size: 3 } } }, spec),
    ).not.toThrow();
    expect(() => checkSameVectors("c", { dense: {}, sparse: {} }, {})).not.toThrow();
  });

  it("names every difference", () => {
    const existing = { dense: { embedding: { size: 4, distance: "Cosine" }, extra: { size: 2, distance: "Dot" } }, sparse: {} };
    expect(() => checkSameVectors("docs", existing, spec)).toThrow(FailedPreconditionError);
    expect(() => checkSameVectors("docs", existing, spec)).toThrow(
      'collection "docs" exists with different vectors: ' +
        'dense vector "embedding" is size 4 Cosine, the spec wants size 3 Cosine; ' +
        'dense vector "extra" exists, the spec has none; ' +
        'sparse vector "terms" is missing, the spec wants it idf-weighted',
    );
    expect(() => checkSameVectors("docs", { sparse: { terms: { idf: false } } }, { sparse: { terms: { idf: true } } })).toThrow(
      'sparse vector "terms" is unweighted, the spec wants idf-weighted',
    );
  });
});
