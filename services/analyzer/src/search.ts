import { create } from "@bufbuild/protobuf";
import {
  CandidateKind,
  CandidateSchema,
  FailureCategory,
  FixSchema,
  Verdict,
  type Candidate,
  type Fix,
  type PerceptualContext,
} from "@mlzero/proto";
import { MIN_SECONDS_FOR_RUN } from "./decide-next-step.js";

/** A judged node of the search: one program run and the analyzer's verdict on it. */
export interface SearchNode {
  iteration: number;
  round: number;
  tool: string;
  kind: CandidateKind;
  /** The reduce level the program was built at: an improvement starts there, or it would run out again. */
  reduceLevel: number;
  verdict: Verdict;
  failure: FailureCategory;
  score?: number;
  /** What to change next (FIX verdicts). */
  fix?: Fix;
  /** The analyzer's one-line summary. */
  summary: string;
}

/** What bounds the whole search. */
export interface SearchLimits {
  maxIterations: number;
  /** Candidates run at once in a round. */
  parallelism: number;
  /** GPUs each run gets, and the most the task's runs may hold at once (0: no bound beyond parallelism). */
  gpus?: { perRun: number; max: number };
  /** Seconds before the deadline; undefined when the task has none. */
  secondsLeft?: number;
  /**
   * Rounds of IMPROVE candidates after the first success (0 stops at the
   * first successful round): worth it only when the coder has an LLM, since
   * the offline coder would build the same program again.
   */
  improveRounds: number;
  /** LLM use so far and its limits (0: none). */
  llm?: { tokens: number; maxTokens: number; costUsd: number; maxCostUsd: number };
}

/** The next round to run, or the end of the task. */
export type SearchStep =
  | { kind: "round"; round: number; candidates: Candidate[]; reason: string }
  | { kind: "finish"; best: SearchNode | undefined; reason: string };

/**
 * The first round: perception's top-ranked tools, as many as run at once
 * (1 in the single loop), each a new tool.
 */
export function firstRound(context: PerceptualContext, limits: SearchLimits): SearchStep {
  const tools = context.tools.map((tool) => tool.name);
  if (tools.length === 0) return { kind: "finish", best: undefined, reason: "no tool fits this task" };
  const chosen = tools.slice(0, Math.min(width(limits), limits.maxIterations));
  const candidates = chosen.map((tool, index) =>
    newTool(index + 1, 1, tool, 0, `Start with ${tool}, ranked ${index + 1} of ${tools.length} by perception.`),
  );
  const reason = chosen.length === 1 ? `trying ${chosen[0]}` : `trying the top ${chosen.length} tools at once: ${chosen.join(", ")}`;
  return { kind: "round", round: 1, candidates: withRound(candidates), reason };
}

/**
 * After a round: stop with the best node by validation score once any
 * program succeeded and the improvement rounds are done (improve the best
 * programs before that), or when a budget is used up; otherwise expand the round's failed nodes with their
 * fixes (debug the program, or switch tool) and fill the round's other slots
 * with tools no node has tried, in perception's order. A switch to a tool
 * another node already ran becomes the next untried tool instead, so that
 * no two nodes of a search repeat each other.
 */
export function nextRound(nodes: readonly SearchNode[], context: PerceptualContext, limits: SearchLimits): SearchStep {
  const sorted = [...nodes].sort((a, b) => a.iteration - b.iteration);
  const round = Math.max(0, ...sorted.map((node) => node.round));
  const used = Math.max(0, ...sorted.map((node) => node.iteration));
  const best = bestNode(sorted, context.metric?.greaterIsBetter ?? true);
  const spent = llmBudgetSpent(limits.llm);
  if (spent) {
    const outcome = best ? `best so far: ${describe(best, context)}` : "no program had succeeded";
    return { kind: "finish", best, reason: `${spent}; ${outcome}` };
  }
  const improved = new Set(sorted.filter((node) => node.kind === CandidateKind.IMPROVE).map((node) => node.round)).size;
  const room = roomLeft(used, limits);
  if (best && improved < limits.improveRounds && room === undefined) {
    const candidates = improveRound(sorted, best, context, used, round, limits);
    const reason = `round ${round + 1}: improve ${candidates.map((candidate) => `iteration ${candidate.parentIteration} (${candidate.fix?.tool})`).join(", ")}`;
    return { kind: "round", round: round + 1, candidates, reason };
  }
  if (best) {
    const reason =
      sorted.length === 1
        ? `succeeded in iteration ${best.iteration} with ${best.tool}`
        : `best of ${sorted.filter((node) => node.verdict === Verdict.SUCCESS).length} successful programs (${sorted.length} run): ${describe(best, context)}`;
    return { kind: "finish", best, reason };
  }
  const last = sorted.filter((node) => node.round === round);
  const giveUp = (why: string) => ({ kind: "finish" as const, best: undefined, reason: `gave up after ${used} iteration(s): ${why}` });
  const platform = last.find((node) => node.failure === FailureCategory.PLATFORM);
  // Every program runs in the same image: no fix or other tool gets past this.
  if (platform) return giveUp(platform.summary);
  if (room !== undefined) return giveUp(room);

  const slots = Math.min(width(limits), limits.maxIterations - used);
  const tried = new Set(sorted.map((node) => node.tool));
  const untried = () => context.tools.map((tool) => tool.name).find((tool) => !tried.has(tool));
  const planned: Omit<Candidate, "$typeName" | "iteration" | "round" | "roundIterations">[] = [];
  const keys = new Set<string>();
  const add = (candidate: (typeof planned)[number]) => {
    const fix = candidate.fix!;
    const key = `${fix.tool}/${fix.reduceLevel}/${fix.labelColumn}`;
    if (planned.length >= slots || keys.has(key)) return;
    keys.add(key);
    tried.add(fix.tool);
    planned.push(candidate);
  };
  for (const node of last) {
    if (node.verdict !== Verdict.FIX || !node.fix) continue;
    const tool = node.fix.tool || node.tool;
    if (tool === node.tool) {
      add({ kind: CandidateKind.DEBUG, parentIteration: node.iteration, fix: create(FixSchema, { ...node.fix, tool }) });
      continue;
    }
    const target = tried.has(tool) ? untried() : tool;
    if (target === undefined) continue;
    const plan = target === tool ? node.fix.plan : `Switch from ${node.tool} to ${target}: ${node.summary}`;
    add({ kind: CandidateKind.NEW_TOOL, parentIteration: node.iteration, fix: create(FixSchema, { tool: target, plan }) });
  }
  for (let tool = untried(); tool !== undefined && planned.length < slots; tool = untried()) {
    add({ kind: CandidateKind.NEW_TOOL, parentIteration: 0, fix: create(FixSchema, { tool, plan: `Try ${tool}, not tried yet.` }) });
  }
  if (planned.length === 0) return giveUp(last.at(-1)?.summary ?? "no candidate is left to try");
  const candidates = withRound(
    planned.map((candidate, index) => create(CandidateSchema, { ...candidate, iteration: used + index + 1, round: round + 1 })),
  );
  const reason = `round ${round + 1}: ${candidates.map((candidate) => `${CandidateKind[candidate.kind].toLowerCase().replace("_", " ")} ${candidate.fix?.tool}`).join(", ")}`;
  return { kind: "round", round: round + 1, candidates, reason };
}

/** Runs at once in a round: the parallelism, cut to the GPUs the task may hold; at least 1. */
function width(limits: SearchLimits): number {
  const byGpus = limits.gpus && limits.gpus.perRun > 0 && limits.gpus.max > 0 ? Math.floor(limits.gpus.max / limits.gpus.perRun) : Infinity;
  return Math.max(1, Math.min(limits.parallelism, byGpus));
}

/** Why no further run fits the budget, or undefined when one does. */
function roomLeft(used: number, limits: SearchLimits): string | undefined {
  if (used >= limits.maxIterations) return `all ${limits.maxIterations} iterations of the budget are used`;
  if (limits.secondsLeft !== undefined && limits.secondsLeft < MIN_SECONDS_FOR_RUN) {
    return `only ${Math.max(0, Math.floor(limits.secondsLeft))} s are left before the deadline`;
  }
  return undefined;
}

/** IMPROVE candidates of the best successful nodes, best first, one per node. */
function improveRound(
  nodes: readonly SearchNode[],
  best: SearchNode,
  context: PerceptualContext,
  used: number,
  round: number,
  limits: SearchLimits,
): Candidate[] {
  const slots = Math.min(width(limits), limits.maxIterations - used);
  const greaterIsBetter = context.metric?.greaterIsBetter ?? true;
  // Best first, then by score, a reported score before none (whichever way the metric points), ties to the earlier.
  const ranked = [best, ...nodes.filter((node) => node !== best && node.verdict === Verdict.SUCCESS)].sort((a, b) =>
    a === best ? -1 : b === best ? 1 : byScore(a, b, greaterIsBetter),
  );
  const metric = context.metric?.name || "score";
  return withRound(
    ranked.slice(0, slots).map((node, index) =>
      create(CandidateSchema, {
        iteration: used + index + 1,
        round: round + 1,
        kind: CandidateKind.IMPROVE,
        parentIteration: node.iteration,
        fix: create(FixSchema, {
          tool: node.tool,
          reduceLevel: node.reduceLevel,
          plan: `Raise the validation ${metric} of iteration ${node.iteration}'s ${node.tool} program (${node.score ?? "not reported"}) without breaking its output.`,
        }),
      }),
    ),
  );
}

/** Orders two nodes better first: a reported score before none, then by score, ties to the earlier iteration. */
function byScore(a: SearchNode, b: SearchNode, greaterIsBetter: boolean): number {
  if (a.score === undefined || b.score === undefined) {
    if (a.score !== b.score) return a.score === undefined ? 1 : -1;
  } else if (a.score !== b.score) {
    return (greaterIsBetter ? b.score - a.score : a.score - b.score) > 0 ? 1 : -1;
  }
  return a.iteration - b.iteration;
}

/** The successful node with the best validation score (a reported score beats none; ties go to the earlier). */
export function bestNode(nodes: readonly SearchNode[], greaterIsBetter: boolean): SearchNode | undefined {
  let best: SearchNode | undefined;
  for (const node of [...nodes].sort((a, b) => a.iteration - b.iteration)) {
    if (node.verdict !== Verdict.SUCCESS) continue;
    if (best === undefined || (best.score === undefined && node.score !== undefined)) best = node;
    else if (node.score !== undefined && (greaterIsBetter ? node.score > best.score! : node.score < best.score!)) best = node;
  }
  return best;
}

function llmBudgetSpent(llm: SearchLimits["llm"]): string | undefined {
  if (!llm) return undefined;
  if (llm.maxTokens > 0 && llm.tokens >= llm.maxTokens) return `the LLM token budget is used up (${llm.tokens} of ${llm.maxTokens} tokens)`;
  if (llm.maxCostUsd > 0 && llm.costUsd >= llm.maxCostUsd) {
    return `the LLM cost budget is used up ($${llm.costUsd.toFixed(4)} of $${llm.maxCostUsd.toFixed(4)})`;
  }
  return undefined;
}

function describe(node: SearchNode, context: PerceptualContext): string {
  const score = node.score === undefined ? "no validation score" : `validation ${context.metric?.name || "score"} ${node.score}`;
  return `iteration ${node.iteration} with ${node.tool} (${score})`;
}

function newTool(iteration: number, round: number, tool: string, parentIteration: number, plan: string): Candidate {
  return create(CandidateSchema, {
    iteration,
    round,
    kind: CandidateKind.NEW_TOOL,
    parentIteration,
    fix: create(FixSchema, { tool, plan }),
  });
}

/** Each candidate learns every iteration of its round. */
function withRound(candidates: Candidate[]): Candidate[] {
  const iterations = candidates.map((candidate) => candidate.iteration);
  for (const candidate of candidates) candidate.roundIterations = iterations;
  return candidates;
}
