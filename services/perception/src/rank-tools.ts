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
 * Modalities whose tools also fit a task of another, ranked after its own:
 * text and text-with-table tasks come as tables, and tabular tools read text
 * columns too (as categories or word counts), so they are a fallback.
 */
const FALLBACK_MODALITIES: Partial<Record<Modality, Modality[]>> = {
  [Modality.TEXT]: [Modality.TABULAR],
  [Modality.MULTIMODAL]: [Modality.TABULAR],
};

/**
 * Ranks the registry's tools for a task: those covering the modality and the
 * problem type, by priority (higher first, then by name so the order is
 * stable), then those of its fallback modalities (tabular tools for text
 * in tables) the same way; a hinted tool goes first whatever it covers,
 * since the user asked for it. GPU variants are ranked only when the runs
 * get a GPU (`gpus` > 0). The score is the tool's priority.
 */
export function rankTools(
  tools: readonly Tool[],
  modality: Modality,
  problemType: ProblemType,
  hinted: Tool | undefined,
  gpus: number,
): ToolCandidate[] {
  const kind = ProblemType[problemType].toLowerCase();
  const ranked: ToolCandidate[] = [];
  const listed = new Set<Tool>(hinted === undefined ? [] : [hinted]);
  for (const covered of [modality, ...(FALLBACK_MODALITIES[modality] ?? [])]) {
    const name = Modality[covered].toLowerCase();
    const reason = (tool: Tool) => {
      const scope = tool.needsGpu ? `${name} ${kind} on the GPU` : `${name} ${kind}`;
      return covered === modality
        ? `covers ${scope} (priority ${tool.priority})`
        : `covers ${scope}, a fallback for ${Modality[modality].toLowerCase()} data (priority ${tool.priority})`;
    };
    const fit = tools
      .filter(
        (tool) =>
          !listed.has(tool) && (gpus > 0 || !tool.needsGpu) && tool.modalities.includes(covered) && tool.problemTypes.includes(problemType),
      )
      .sort((a, b) => b.priority - a.priority || a.name.localeCompare(b.name));
    for (const tool of fit) {
      listed.add(tool);
      ranked.push(create(ToolCandidateSchema, { name: tool.name, score: tool.priority, reason: reason(tool) }));
    }
  }
  if (hinted === undefined) return ranked;
  return [create(ToolCandidateSchema, { name: hinted.name, score: hinted.priority, reason: "requested" }), ...ranked];
}
