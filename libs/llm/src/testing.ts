import { createServer, type IncomingMessage, type Server } from "node:http";

/** A request the scripted server received. */
export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  body: unknown;
}

/** What the scripted server answers. */
export interface ScriptedEndpointOptions {
  /** The vector for one input text: the model the server plays. */
  embed(text: string): number[];
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

/**
 * An OpenAI-compatible HTTP server on 127.0.0.1 for tests, so the real
 * `openai` client runs against it end to end: `POST /v1/embeddings` answers
 * with vectors from the given function, in the documented response shape.
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
    if (request.method !== "POST" || path !== "/v1/embeddings") {
      send(404, { error: { message: `no route ${request.method} ${path}`, type: "invalid_request_error" } });
      return;
    }
    if (failuresLeft > 0) {
      failuresLeft--;
      send(options.failFirst!.status, { error: { message: "scripted failure", type: "server_error" } });
      return;
    }
    const { model, input } = body as { model: string; input: string | string[] };
    const texts = Array.isArray(input) ? input : [input];
    const data = texts.map((text, index) => ({ object: "embedding", index, embedding: options.embed(text) }));
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
