import { describe, expect, it } from "vitest";
import { labelFromDescription, outputFromDescription, problemTypeFromDescription } from "./description-hints.js";

const COLUMNS = ["id", "SalePrice", "Survived", "y", "rooms"];

describe("labelFromDescription", () => {
  it("accepts only names that are columns, case-insensitively", () => {
    expect(labelFromDescription("The target is saleprice.", COLUMNS)?.column).toBe("SalePrice");
    expect(labelFromDescription("label column: `Survived`", COLUMNS)?.column).toBe("Survived");
    expect(labelFromDescription("Predict y from the rest.", COLUMNS)?.column).toBe("y");
    expect(labelFromDescription("predict the value of SalePrice", COLUMNS)?.column).toBe("SalePrice");
    expect(labelFromDescription("Predict whether a passenger survived.", COLUMNS)).toBeUndefined();
  });

  it("finds a quoted column in a sentence about the target", () => {
    expect(labelFromDescription("Your goal: for each house, forecast column 'SalePrice' well.", COLUMNS)?.column).toBe("SalePrice");
    expect(labelFromDescription('Column "rooms" counts rooms.', COLUMNS)).toBeUndefined();
  });
});

describe("problemTypeFromDescription", () => {
  it("reads the stated type, not a model name", () => {
    expect(problemTypeFromDescription("This is a regression task")?.type).toBe("regression");
    expect(problemTypeFromDescription("A logistic regression baseline gets 0.7; classify each row")?.type).toBe("classification");
    expect(problemTypeFromDescription("multi-class problem")?.type).toBe("multiclass");
    expect(problemTypeFromDescription("nothing")).toBeUndefined();
  });
});

describe("outputFromDescription", () => {
  it("reads the output file and columns, skipping input file names", () => {
    const output = outputFromDescription("Rows are in test.csv. Save predictions to out/preds.csv with columns id, SalePrice.", [
      "test.csv",
    ]);
    expect(output).toMatchObject({ fileName: "preds.csv", columns: ["id", "SalePrice"] });
  });

  it("reads columns joined by 'and' and quoted names", () => {
    expect(outputFromDescription('The output needs columns "row id" and label.', [])).toMatchObject({
      fileName: undefined,
      columns: ["row id", "label"],
    });
  });

  it("says nothing when the description does not describe the output", () => {
    expect(outputFromDescription("train.csv holds the training rows.", ["train.csv"])).toBeUndefined();
  });
});
