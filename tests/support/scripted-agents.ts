import type { ChatRequest, ScriptedReply } from "@mlzero/llm/testing";

/**
 * The agents' prompts as a scripted endpoint sees them, told apart by the
 * system message's first line ("You are mlzero's <agent> agent..."); the
 * retrieval agent writes a query and reranks, two prompts.
 */
export type AgentPrompt = "perception" | "tool-selection" | "retrieval-query" | "retrieval-rerank" | "coder" | "verdict" | "error-analysis";

/** The usage agent (LlmUsage.agent) each prompt counts under. */
export const USAGE_AGENT: Record<AgentPrompt, string> = {
  perception: "perception",
  "tool-selection": "tool-selection",
  "retrieval-query": "retrieval",
  "retrieval-rerank": "retrieval",
  coder: "coder",
  verdict: "verdict",
  "error-analysis": "error-analysis",
};

/** The prompt a chat request belongs to, from its system message's first line. */
export function agentPromptOf(request: ChatRequest): AgentPrompt {
  const system = request.messages.find((message) => message.role === "system")?.content ?? "";
  const first = system.split("\n", 1)[0]!;
  const match = /^You are mlzero's ([a-z-]+) agent(, (writing a search query|reranking search results))?\./.exec(first);
  if (!match) throw new Error(`not an mlzero agent's prompt: ${JSON.stringify(first)}`);
  if (match[1] === "retrieval") return match[3] === "writing a search query" ? "retrieval-query" : "retrieval-rerank";
  const agent = match[1] as AgentPrompt;
  if (!(agent in USAGE_AGENT)) throw new Error(`unknown agent ${agent}`);
  return agent;
}

/** The user message of the first turn: the prompt as rendered (a repair request adds turns after it). */
export function userPrompt(request: ChatRequest): string {
  return request.messages.find((message) => message.role === "user")?.content ?? "";
}

/** True for the chat client's repair request: the model's invalid answer and what was wrong follow the prompt. */
export function isRepair(request: ChatRequest): boolean {
  return request.messages.length > 2;
}

/** The text of a `<<<DATA name ...>>>` block of a prompt, or undefined when there is none. */
export function dataBlock(content: string, name: string): string | undefined {
  const start = content.indexOf(`<<<DATA ${name} (`);
  if (start < 0) return undefined;
  const bodyStart = content.indexOf(">>>\n", start) + 4;
  const end = content.indexOf(`\n<<<END DATA ${name}>>>`, bodyStart);
  return end < 0 ? undefined : content.slice(bodyStart, end);
}

/** A prompt with its data blocks taken out: what mlzero itself says to the model. */
export function outsideDataBlocks(content: string): string {
  return content.replace(/<<<DATA [^\n]*>>>\n[\s\S]*?\n<<<END DATA [^\n]*>>>/g, "<<<DATA removed>>>");
}

/** One chat request as the scripted agents answered it. */
export interface AgentCall {
  prompt: AgentPrompt;
  agent: string;
  request: ChatRequest;
  reply: ScriptedReply;
}

/** Token counts each agent's answers report (prompt, completion). */
export const SCRIPTED_TOKENS: Record<string, { prompt: number; completion: number }> = {
  perception: { prompt: 300, completion: 40 },
  "tool-selection": { prompt: 200, completion: 30 },
  retrieval: { prompt: 100, completion: 20 },
  coder: { prompt: 2000, completion: 500 },
  verdict: { prompt: 400, completion: 20 },
  "error-analysis": { prompt: 500, completion: 60 },
};

/** What a test may change: a reply for a call (return undefined for the default), by prompt and the prompt's call number (1 first). */
export type ReplyOverride = (call: { prompt: AgentPrompt; request: ChatRequest; nth: number }) => ScriptedReply | undefined;

/** Scripted agents: a `respond` for startScriptedEndpoint, and what it was asked. */
export interface ScriptedAgents {
  respond(request: ChatRequest): ScriptedReply;
  calls: AgentCall[];
  /** Mistakes of the script itself (an unexpected prompt): answered 400, so the agent falls back; a test asserts there are none. */
  problems: string[];
  /** The calls of one prompt that were answered with a message (not an HTTP error). */
  answered(prompt: AgentPrompt): AgentCall[];
}

/**
 * A well-behaved scripted model for every agent: perception and tool
 * selection agree with the rules, the retrieval agent asks for the tool's
 * tutorials and keeps the first two, the coder answers the reference program
 * of its prompt (mlzero's own program for the tool, so it runs) with a
 * comment line saying it was scripted, the verdict agent says SUCCESS and the
 * error-analysis agent names a plan. Each answer reports
 * {@link SCRIPTED_TOKENS}; `override` changes any reply.
 */
export function scriptedAgents(override: ReplyOverride = () => undefined): ScriptedAgents {
  const calls: AgentCall[] = [];
  const problems: string[] = [];
  const count = new Map<AgentPrompt, number>();
  return {
    calls,
    problems,
    answered: (prompt) => calls.filter((call) => call.prompt === prompt && "content" in call.reply),
    respond(request) {
      let prompt: AgentPrompt;
      try {
        prompt = agentPromptOf(request);
      } catch (error) {
        problems.push((error as Error).message);
        return { status: 400 };
      }
      const nth = (count.get(prompt) ?? 0) + 1;
      count.set(prompt, nth);
      let reply: ScriptedReply;
      try {
        reply = override({ prompt, request, nth }) ?? defaultReply(prompt, request);
      } catch (error) {
        problems.push(`${prompt} call ${nth}: ${(error as Error).message}`);
        reply = { status: 400 };
      }
      calls.push({ prompt, agent: USAGE_AGENT[prompt], request, reply });
      return reply;
    },
  };
}

/** A JSON answer with the agent's scripted token counts. */
export function answer(prompt: AgentPrompt, value: unknown): ScriptedReply {
  const tokens = SCRIPTED_TOKENS[USAGE_AGENT[prompt]]!;
  return {
    content: typeof value === "string" ? value : JSON.stringify(value),
    promptTokens: tokens.prompt,
    completionTokens: tokens.completion,
  };
}

/** The reference program in a coder prompt: mlzero's own program for the tool, which runs. */
export function referenceProgram(request: ChatRequest): string {
  const reference = dataBlock(userPrompt(request), "reference");
  if (reference === undefined) throw new Error("the coder prompt has no reference program");
  if (reference.includes("more characters cut ...]")) throw new Error("the reference program was cut");
  return reference;
}

/** The program facts (ProgramConfig) of a coder prompt. */
export function programFacts(request: ChatRequest): { output_path: string; label_column: string; [key: string]: unknown } {
  const task = dataBlock(userPrompt(request), "task");
  if (task === undefined) throw new Error("the coder prompt has no task facts");
  return JSON.parse(task) as { output_path: string; label_column: string };
}

function defaultReply(prompt: AgentPrompt, request: ChatRequest): ScriptedReply {
  switch (prompt) {
    case "perception":
      return answer(prompt, { label_column: null, problem_type: null, metric: null, output_columns: null });
    case "tool-selection": {
      // The ranked tools as the prompt lists them, in the same order.
      const tools = [...outsideDataBlocks(userPrompt(request)).matchAll(/^\d+\. ([a-z0-9-]+):/gm)].map((match) => match[1]!);
      return answer(prompt, { ranking: tools.slice(0, 2).map((tool) => ({ tool, reason: "scripted: the rules' order is sound" })) });
    }
    case "retrieval-query":
      return answer(prompt, { query: "how to train and validate a tabular model within a time budget" });
    case "retrieval-rerank":
      return answer(prompt, {
        ranking: [
          { id: "k2", reason: "scripted" },
          { id: "k1", reason: "scripted" },
        ],
      });
    case "coder":
      return answer(prompt, {
        code: `# scripted coder answer\n${referenceProgram(request)}`,
        summary: "scripted: the reference program as it is",
      });
    case "verdict":
      return answer(prompt, { verdict: "SUCCESS", reason: "scripted: the logs look sound", validation_score: null });
    case "error-analysis":
      return answer(prompt, {
        root_cause: "scripted root cause",
        plan: "scripted plan: start again from the reference program",
        tool: null,
      });
  }
}
