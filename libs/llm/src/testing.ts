import { createServer, type IncomingMessage, type Server } from "node:http";

/** A chat request as the scripted server reads it. */
export interface ChatRequest {
  model: string;
  messages: { role: string; content: string }[];
}

/** A request the scripted server received. */
export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  body: unknown;
}

/** One scripted chat answer: a message (with the token counts to report), or an HTTP error status. */
export type ScriptedReply = { content: string; promptTokens?: number; completionTokens?: number } | { status: number };

/** What the scripted server answers. */
export interface ScriptedEndpointOptions {
  /** The vector for one input text: the embedding model the server plays (no embeddings route without it). */
  embed?(text: string): number[];
  /** Chat answers, taken in order, one per `POST /v1/chat/completions` (no chat route without them or `respond`). */
  replies?: ScriptedReply[];
  /**
   * Chat answers chosen from the request instead (agents calling in any
   * order, or at once): e.g. by the prompt id in the system message.
   */
  respond?(request: ChatRequest): ScriptedReply;
  /** Answer the next N embeddings requests with this HTTP status (e.g. 429, 500) before answering normally. */
  failFirst?: { count: number; status: number };
  /** Reverse the order of `data` in answers, as a server may (clients must sort by `index`). */
  shuffle?: boolean;
}

/** A running scripted endpoint. */
export interface ScriptedEndpoint {
  /** e.g. http://127.0.0.1:PORT/v1 */
  baseURL: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** The agent a chat request is for, from its system message's first line ("You are mlzero's verdict agent."), or "unknown". */
export function agentOf(request: ChatRequest): string {
  const first = request.messages.find((message) => message.role === "system")?.content.split("\n")[0] ?? "";
  return /^You are mlzero's (.+) agent\.$/.exec(first)?.[1] ?? "unknown";
}

/** A `respond` that answers each agent ({@link agentOf}) with its script; an agent without a script gets an HTTP 500. */
export function respondByAgent(script: Record<string, (request: ChatRequest) => ScriptedReply>): (request: ChatRequest) => ScriptedReply {
  return (request) => script[agentOf(request)]?.(request) ?? { status: 500 };
}

/**
 * An OpenAI-compatible HTTP server on 127.0.0.1 for tests, so the real
 * `openai` client runs against it end to end: `POST /v1/embeddings` answers
 * with vectors from the given function and `POST /v1/chat/completions` with
 * the scripted replies in order, in the documented response shapes.
 * A scripted fake of a model endpoint, named as such: no model runs here.
 */
export async function startScriptedEndpoint(options: ScriptedEndpointOptions): Promise<ScriptedEndpoint> {
  const requests: RecordedRequest[] = [];
  let failuresLeft = options.failFirst?.count ?? 0;
  const server: Server = createServer(async (request, response) => {
    const body = await readJson(request);
    const path = request.url ?? "";
    requests.push({ method: request.method ?? "", path, authorization: request.headers.authorization, body });
    const send = (status: number, value: unknown) =>
      response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
    if (request.method === "POST" && path === "/v1/chat/completions" && (options.replies || options.respond)) {
      const reply = options.respond ? options.respond(body as ChatRequest) : options.replies!.shift();
      if (!reply) {
        send(500, { error: { message: "no scripted reply left", type: "server_error" } });
      } else if ("status" in reply) {
        send(reply.status, { error: { message: "scripted failure", type: "server_error" } });
      } else {
        const { model } = body as { model: string };
        const usage = { prompt_tokens: reply.promptTokens ?? 0, completion_tokens: reply.completionTokens ?? 0 };
        send(200, {
          id: `chatcmpl-${requests.length}`,
          object: "chat.completion",
          created: 0,
          model,
          choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: reply.content } }],
          usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
        });
      }
      return;
    }
    if (request.method !== "POST" || path !== "/v1/embeddings" || !options.embed) {
      send(404, { error: { message: `no route ${request.method} ${path}`, type: "invalid_request_error" } });
      return;
    }
    const embed = options.embed;
    if (failuresLeft > 0) {
      failuresLeft--;
      send(options.failFirst!.status, { error: { message: "scripted failure", type: "server_error" } });
      return;
    }
    const { model, input } = body as { model: string; input: string | string[] };
    const texts = Array.isArray(input) ? input : [input];
    const data = texts.map((text, index) => ({ object: "embedding", index, embedding: embed(text) }));
    if (options.shuffle) data.reverse();
    send(200, { object: "list", model, data, usage: { prompt_tokens: texts.length, total_tokens: texts.length } });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? (JSON.parse(text) as unknown) : undefined;
}

/**
 * A deterministic stand-in for an embedding model: hashed word and
 * character-trigram features folded into `size` dimensions and normalised,
 * so texts that share words and word pieces get similar vectors.
 */
export function hashedEmbedding(text: string, size = 64): number[] {
  const vector = new Array<number>(size).fill(0);
  const words = text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  for (const word of words) {
    const padded = ` ${word} `;
    for (const feature of [word, ...Array.from({ length: Math.max(0, padded.length - 2) }, (_, i) => padded.slice(i, i + 3))]) {
      let hash = 2166136261;
      for (let i = 0; i < feature.length; i++) hash = Math.imul(hash ^ feature.charCodeAt(i), 16777619);
      vector[(hash >>> 0) % size]! += hash & 1 ? 1 : -1;
    }
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((value) => value / norm);
}
