import { create } from "@bufbuild/protobuf";
import { InvalidInputError } from "@mlzero/errors";
import { Modality, ProblemType, ToolCandidateSchema, type Tool, type ToolCandidate } from "@mlzero/proto";

/** The registry tool a hint names (case-insensitive), or `undefined` for no hint; an unknown name is an error listing the known ones. */
export function findHintedTool(tools: readonly Tool[], hint: string | undefined): Tool | undefined {
  const wanted = hint?.trim() ?? "";
  if (wanted === "") return undefined;
  const tool = tools.find((candidate) => candidate.name.toLowerCase() === wanted.toLowerCase());
  if (tool === undefined) {
    const known = tools.map((candidate) => candidate.name).sort();
    throw new InvalidInputError(
      `unknown tool "${wanted}": known tools are ${known.length === 0 ? "none (the registry is empty)" : known.join(", ")}`,
    );
  }
  return tool;
}

/**
 * Ranks the registry's tools for a task: those covering the modality and the
 * problem type, by priority (higher first, then by name so the order is
 * stable); a hinted tool goes first whatever it covers, since the user asked
 * for it. The score is the tool's priority.
 */
export function rankTools(tools: readonly Tool[], modality: Modality, problemType: ProblemType, hinted: Tool | undefined): ToolCandidate[] {
  const task = `${Modality[modality].toLowerCase()} ${ProblemType[problemType].toLowerCase()}`;
  const fit = tools
    .filter((tool) => tool !== hinted && tool.modalities.includes(modality) && tool.problemTypes.includes(problemType))
    .sort((a, b) => b.priority - a.priority || a.name.localeCompare(b.name))
    .map((tool) =>
      create(ToolCandidateSchema, { name: tool.name, score: tool.priority, reason: `covers ${task} (priority ${tool.priority})` }),
    );
  if (hinted === undefined) return fit;
  return [create(ToolCandidateSchema, { name: hinted.name, score: hinted.priority, reason: "requested" }), ...fit];
}
