import { InvalidInputError, UnavailableError } from "@mlzero/errors";
import { afterEach, describe, expect, it } from "vitest";
import { createEmbedder } from "./embedder.js";
import { hashedEmbedding, startScriptedEndpoint, type ScriptedEndpoint } from "./testing.js";

const endpoints: ScriptedEndpoint[] = [];
async function endpoint(options: Partial<Parameters<typeof startScriptedEndpoint>[0]> = {}): Promise<ScriptedEndpoint> {
  const started = await startScriptedEndpoint({ embed: (text) => hashedEmbedding(text, 16), ...options });
  endpoints.push(started);
  return started;
}

afterEach(async () => {
  for (const each of endpoints.splice(0)) await each.close();
});

describe("embedder over the openai client", () => {
  it("embeds in batches, in input order whatever order the server answers in, with the key as bearer token", async () => {
    const server = await endpoint({ shuffle: true });
    const embedder = createEmbedder({ baseURL: server.baseURL, apiKey: "secret", model: "embed-small", batchSize: 2 });
    const texts = ["lightgbm early stopping", "tf-idf text classification", "time series lags", "image pixels"];
    const vectors = await embedder.embed(texts);
    expect(vectors).toEqual(texts.map((text) => hashedEmbedding(text, 16)));
    expect(server.requests.map((request) => (request.body as { input: string[] }).input)).toEqual([texts.slice(0, 2), texts.slice(2)]);
    expect(server.requests[0]).toMatchObject({ method: "POST", path: "/v1/embeddings", authorization: "Bearer secret" });
    expect(server.requests[0]!.body).toMatchObject({ model: "embed-small", encoding_format: "float" });
  });

  it("retries rate limits and server errors, then succeeds", async () => {
    const server = await endpoint({ failFirst: { count: 2, status: 429 } });
    const embedder = createEmbedder({ baseURL: server.baseURL, model: "m", maxRetries: 3 });
    expect(await embedder.embed(["x"])).toHaveLength(1);
    expect(server.requests).toHaveLength(3);
  });

  it("says which endpoint failed once retries are spent, and refuses empty texts", async () => {
    const server = await endpoint({ failFirst: { count: 5, status: 500 } });
    const embedder = createEmbedder({ baseURL: server.baseURL, model: "m", maxRetries: 1 });
    const attempt = embedder.embed(["x"]);
    await expect(attempt).rejects.toThrow(UnavailableError);
    await expect(attempt).rejects.toThrow(`embeddings endpoint ${server.baseURL} (model m) failed`);
    await expect(embedder.embed(["ok", " "])).rejects.toThrow(InvalidInputError);
  });

  it("rejects an answer whose vectors differ in length", async () => {
    let calls = 0;
    const server = await endpoint({ embed: (text) => (text === "short" ? [1] : hashedEmbedding(text, 8 + calls++)) });
    const embedder = createEmbedder({ baseURL: server.baseURL, model: "m", maxRetries: 0 });
    await expect(embedder.embed(["a", "short"])).rejects.toThrow(/unequal length/);
  });
});
