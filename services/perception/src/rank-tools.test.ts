import { create } from "@bufbuild/protobuf";
import { InvalidInputError } from "@mlzero/errors";
import { Modality, ProblemType, ToolSchema } from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import { findHintedTool, rankTools } from "./rank-tools.js";

const tool = (name: string, priority: number, modalities: Modality[], problemTypes: ProblemType[]) =>
  create(ToolSchema, { name, priority, modalities, problemTypes });
const TOOLS = [
  tool("b-tool", 5, [Modality.TABULAR], [ProblemType.REGRESSION]),
  tool("a-tool", 5, [Modality.TABULAR], [ProblemType.REGRESSION]),
  tool("top", 9, [Modality.TABULAR], [ProblemType.REGRESSION, ProblemType.BINARY]),
  tool("images", 99, [Modality.IMAGE], [ProblemType.REGRESSION]),
  tool("classifier", 50, [Modality.TABULAR], [ProblemType.BINARY]),
];

describe("rankTools", () => {
  it("keeps tools fit for the task, by priority then name", () => {
    const ranked = rankTools(TOOLS, Modality.TABULAR, ProblemType.REGRESSION, undefined, 0);
    expect(ranked.map((c) => [c.name, c.score])).toEqual([
      ["top", 9],
      ["a-tool", 5],
      ["b-tool", 5],
    ]);
  });

  it("puts a hinted tool first even when it does not fit", () => {
    const hinted = findHintedTool(TOOLS, " Images ");
    const ranked = rankTools(TOOLS, Modality.TABULAR, ProblemType.REGRESSION, hinted, 0);
    expect(ranked.map((c) => [c.name, c.reason])).toEqual([
      ["images", "requested"],
      ["top", "covers tabular regression (priority 9)"],
      ["a-tool", "covers tabular regression (priority 5)"],
      ["b-tool", "covers tabular regression (priority 5)"],
    ]);
  });

  it("treats a blank hint as none and rejects an unknown one", () => {
    expect(findHintedTool(TOOLS, "  ")).toBeUndefined();
    expect(() => findHintedTool(TOOLS, "nope")).toThrow(InvalidInputError);
    expect(() => findHintedTool([], "nope")).toThrow('unknown tool "nope": known tools are none (the registry is empty)');
  });

  it("ranks a modality's own tools first, then tabular tools for text in tables", () => {
    const tools = [
      tool("gbm", 80, [Modality.TABULAR], [ProblemType.BINARY]),
      tool("tfidf", 70, [Modality.TEXT, Modality.MULTIMODAL], [ProblemType.BINARY]),
      tool("union", 75, [Modality.MULTIMODAL], [ProblemType.BINARY]),
      tool("pixels", 30, [Modality.IMAGE], [ProblemType.BINARY]),
    ];
    expect(rankTools(tools, Modality.MULTIMODAL, ProblemType.BINARY, undefined, 0).map((c) => [c.name, c.reason])).toEqual([
      ["union", "covers multimodal binary (priority 75)"],
      ["tfidf", "covers multimodal binary (priority 70)"],
      ["gbm", "covers tabular binary, a fallback for multimodal data (priority 80)"],
    ]);
    expect(rankTools(tools, Modality.TEXT, ProblemType.BINARY, undefined, 0).map((c) => c.name)).toEqual(["tfidf", "gbm"]);
    expect(rankTools(tools, Modality.IMAGE, ProblemType.BINARY, undefined, 0).map((c) => c.name)).toEqual(["pixels"]);
    expect(rankTools(tools, Modality.TIME_SERIES, ProblemType.REGRESSION, undefined, 0)).toEqual([]);
    expect(rankTools(tools, Modality.TEXT, ProblemType.BINARY, tools[0], 0).map((c) => c.name)).toEqual(["gbm", "tfidf"]);
  });

  it("ranks GPU variants only when the runs get a GPU, and honours a hint for one either way", () => {
    const tools = [
      tool("cnn", 50, [Modality.IMAGE], [ProblemType.MULTICLASS]),
      create(ToolSchema, {
        name: "timm",
        priority: 95,
        modalities: [Modality.IMAGE],
        problemTypes: [ProblemType.MULTICLASS],
        needsGpu: true,
      }),
    ];
    expect(rankTools(tools, Modality.IMAGE, ProblemType.MULTICLASS, undefined, 0).map((c) => c.name)).toEqual(["cnn"]);
    expect(rankTools(tools, Modality.IMAGE, ProblemType.MULTICLASS, undefined, 1).map((c) => [c.name, c.reason])).toEqual([
      ["timm", "covers image multiclass on the GPU (priority 95)"],
      ["cnn", "covers image multiclass (priority 50)"],
    ]);
    expect(rankTools(tools, Modality.IMAGE, ProblemType.MULTICLASS, tools[1], 0).map((c) => c.name)).toEqual(["timm", "cnn"]);
  });
});
