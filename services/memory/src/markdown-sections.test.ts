import { describe, expect, it } from "vitest";
import { splitSections } from "./markdown-sections.js";

describe("splitSections", () => {
  it("splits at ## headings, keeps the heading in the text and an intro as Overview", () => {
    const split = splitSections("# Title\n\nIntro line.\n\n## First\n\nBody one.\n\n## Second\nBody two.\n");
    expect(split).toEqual({
      title: "Title",
      sections: [
        { heading: "Overview", text: "Intro line." },
        { heading: "First", text: "## First\n\nBody one." },
        { heading: "Second", text: "## Second\n\nBody two." },
      ],
    });
  });

  it("does not split at ## inside fenced code", () => {
    const split = splitSections("# T\n## Code\n```python\n## a Python comment\nx = 1\n```\nafter\n");
    expect(typeof split).toBe("object");
    if (typeof split === "string") return;
    expect(split.sections.map((section) => section.heading)).toEqual(["Code"]);
    expect(split.sections[0]!.text).toContain("## a Python comment");
  });

  it("explains what is wrong with a malformed tutorial", () => {
    expect(splitSections("no title\n## A\ntext")).toMatch(/title/);
    expect(splitSections("# Only a title\n\nand prose\n")).toMatch(/no '## ' sections/);
    expect(splitSections("# T\n## Empty\n\n## Full\ntext\n")).toMatch(/"Empty" is empty/);
  });
});
