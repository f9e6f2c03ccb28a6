import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { KnowledgeKind, RetrieveRequestSchema } from "@mlzero/proto";
import { z } from "zod";
import type { RetrievalMode, SemanticMemory } from "./semantic-memory.js";

/** The labelled retrieval set shipped with the corpus. */
export const RETRIEVAL_SET_FILE = fileURLToPath(new URL("../eval/retrieval-set.json", import.meta.url));

const labelledQuery = z.strictObject({
  /** A task description (what a user writes) or an error message (what a program printed). */
  query: z.string().min(1),
  kind: z.enum(["description", "error"]),
  /** The tool the answer belongs to. */
  tool: z.string().min(1),
  /** Title of the one chunk that answers it: a registry entry for a description, a tutorial section for an error. */
  title: z.string().min(1),
});

export type LabelledQuery = z.infer<typeof labelledQuery>;

/** Reads and validates the set, naming the file and entry when it is malformed. */
export function loadRetrievalSet(file = RETRIEVAL_SET_FILE): LabelledQuery[] {
  const parsed = z.array(labelledQuery).safeParse(JSON.parse(readFileSync(file, "utf8")));
  if (!parsed.success)
    throw new Error(`${file}: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
  return parsed.data;
}

/** How well a retrieval mode answers the set. */
export interface RetrievalScores {
  mode: RetrievalMode;
  queries: number;
  recallAt1: number;
  recallAt5: number;
  /** Mean reciprocal rank of the answer within the top 10 (0 when it is not there). */
  mrr: number;
  /** Queries whose answer was not in the top 5, with what came first instead. */
  misses: { query: string; expected: string; first: string }[];
}

/**
 * Runs every labelled query the way the services ask: a description against
 * the tool registry entries, an error message against the tutorials.
 */
export async function evaluateRetrieval(memory: SemanticMemory, set: LabelledQuery[], mode: RetrievalMode): Promise<RetrievalScores> {
  let hitsAt1 = 0;
  let hitsAt5 = 0;
  let reciprocalRanks = 0;
  const misses: RetrievalScores["misses"] = [];
  for (const labelled of set) {
    const hits = await memory.retrieve(
      create(RetrieveRequestSchema, {
        tenant: "eval",
        query: labelled.query,
        kind: labelled.kind === "description" ? KnowledgeKind.TOOL : KnowledgeKind.TUTORIAL,
        limit: 10,
      }),
      mode,
    );
    const rank = hits.findIndex((hit) => hit.title === labelled.title) + 1;
    if (rank === 1) hitsAt1++;
    if (rank >= 1 && rank <= 5) hitsAt5++;
    else misses.push({ query: labelled.query, expected: labelled.title, first: hits[0]?.title ?? "(nothing)" });
    if (rank >= 1) reciprocalRanks += 1 / rank;
  }
  const count = set.length;
  return { mode, queries: count, recallAt1: hitsAt1 / count, recallAt5: hitsAt5 / count, mrr: reciprocalRanks / count, misses };
}
