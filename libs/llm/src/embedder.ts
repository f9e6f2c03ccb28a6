import OpenAI from "openai";
import { InvalidInputError, UnavailableError } from "@mlzero/errors";

/** Where embeddings come from: any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, vLLM, Ollama, a gateway). */
export interface EmbedderOptions {
  /** e.g. http://127.0.0.1:8000/v1 */
  baseURL: string;
  /** Sent as a bearer token; endpoints that need none accept any. */
  apiKey?: string;
  model: string;
  /** Asked of models that can shorten their vectors; left out otherwise. */
  dimensions?: number;
  /** Texts per request (default 64). */
  batchSize?: number;
  /** Per request (default 30 s). */
  timeoutMs?: number;
  /** Retries of 429, 5xx and timeouts, with the client's backoff (default 3). */
  maxRetries?: number;
}

/** Turns texts into dense vectors. */
export interface Embedder {
  /** Which model: part of an index's identity, so another model re-indexes. */
  readonly model: string;
  /** One vector per text, in order, all of one length. */
  embed(texts: string[]): Promise<number[][]>;
}

/**
 * An embedder over the `openai` client. Every answer is checked: one vector
 * per input, returned in input order whatever order the server used, each
 * finite and of the same length; anything else is an error naming the
 * endpoint, so a misbehaving server cannot slip a short or shuffled batch
 * into an index.
 */
export function createEmbedder(options: EmbedderOptions): Embedder {
  const client = new OpenAI({
    baseURL: options.baseURL,
    apiKey: options.apiKey || "unused",
    timeout: options.timeoutMs ?? 30_000,
    maxRetries: options.maxRetries ?? 3,
  });
  const batchSize = options.batchSize ?? 64;
  const where = `embeddings endpoint ${options.baseURL} (model ${options.model})`;

  async function embedBatch(texts: string[]): Promise<number[][]> {
    let response;
    try {
      response = await client.embeddings.create({
        model: options.model,
        input: texts,
        dimensions: options.dimensions,
        encoding_format: "float",
      });
    } catch (error) {
      throw new UnavailableError(`${where} failed: ${(error as Error).message}`, { cause: error });
    }
    const vectors: number[][] = new Array(texts.length);
    for (const item of response.data ?? []) {
      if (!Number.isInteger(item.index) || item.index < 0 || item.index >= texts.length || vectors[item.index]) {
        throw new UnavailableError(`${where} answered with a bad or repeated index ${item.index}`);
      }
      vectors[item.index] = item.embedding;
    }
    if (vectors.filter(Boolean).length !== texts.length) {
      throw new UnavailableError(`${where} answered ${response.data?.length ?? 0} vectors for ${texts.length} texts`);
    }
    return vectors;
  }

  return {
    model: options.model,
    async embed(texts) {
      if (texts.some((text) => typeof text !== "string" || text.trim() === "")) {
        throw new InvalidInputError("cannot embed an empty text");
      }
      const vectors: number[][] = [];
      for (let start = 0; start < texts.length; start += batchSize) {
        vectors.push(...(await embedBatch(texts.slice(start, start + batchSize))));
      }
      const size = vectors[0]?.length ?? 0;
      for (const vector of vectors) {
        if (vector.length !== size || size === 0 || !vector.every(Number.isFinite)) {
          throw new UnavailableError(`${where} answered vectors of unequal length or with non-finite values`);
        }
      }
      return vectors;
    },
  };
}
