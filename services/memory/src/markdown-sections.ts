/** One `## ` section of a tutorial: its heading and its text, heading line included. */
export interface MarkdownSection {
  heading: string;
  text: string;
}

/** A tutorial split for retrieval: its `# ` title and its sections. */
export interface SectionedMarkdown {
  title: string;
  sections: MarkdownSection[];
}

const FENCE = /^\s*(```|~~~)/;

/**
 * Splits a tutorial at its `## ` headings, so each retrieved chunk is one
 * self-contained topic. Headings inside fenced code (a Python `## comment`)
 * do not split. Text between the title and the first section becomes an
 * "Overview" section. Returns the reason instead when the document has no
 * `# ` title, no sections, or an empty section.
 */
export function splitSections(markdown: string): SectionedMarkdown | string {
  const lines = markdown.replace(/\r\n?/g, "\n").split("\n");
  const first = lines.findIndex((line) => line.trim() !== "");
  if (first < 0 || !lines[first]!.startsWith("# ")) return "the first line must be a '# ' title";
  const title = lines[first]!.slice(2).trim();

  const intro: string[] = [];
  const parts: { heading: string; lines: string[] }[] = [];
  let inFence = false;
  for (const line of lines.slice(first + 1)) {
    if (FENCE.test(line)) inFence = !inFence;
    if (!inFence && line.startsWith("## ")) parts.push({ heading: line.slice(3).trim(), lines: [line] });
    else (parts.at(-1)?.lines ?? intro).push(line);
  }
  if (parts.length === 0) return "it has no '## ' sections";

  const sections: MarkdownSection[] = [];
  const overview = intro.join("\n").trim();
  if (overview !== "") sections.push({ heading: "Overview", text: overview });
  for (const part of parts) {
    const body = part.lines.slice(1).join("\n").trim();
    if (body === "") return `section ${JSON.stringify(part.heading)} is empty`;
    sections.push({ heading: part.heading, text: `${part.lines[0]}\n\n${body}` });
  }
  return { title, sections };
}
