import { UnavailableError } from "@mlzero/errors";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createChatClient, InvalidAnswerError } from "./chat.js";
import { startScriptedEndpoint, type ScriptedEndpoint, type ScriptedReply } from "./testing.js";

const endpoints: ScriptedEndpoint[] = [];
async function endpoint(replies: ScriptedReply[]): Promise<ScriptedEndpoint> {
  const started = await startScriptedEndpoint({ replies });
  endpoints.push(started);
  return started;
}
afterEach(async () => {
  for (const each of endpoints.splice(0)) await each.close();
});

const profile = { model: "coder-large", temperature: 0.2, maxTokens: 500 };
const prices = { "coder-large": { inputPerMillion: 2, outputPerMillion: 8 } };
const verdict = z.strictObject({ verdict: z.enum(["SUCCESS", "FIX"]), score: z.number().nullable() });

describe("chat client over the openai package", () => {
  it("sends the profile and messages, and counts tokens and cost from the price table", async () => {
    const server = await endpoint([{ content: "print('hi')", promptTokens: 1200, completionTokens: 300 }]);
    const chat = createChatClient({ baseURL: server.baseURL, apiKey: "k", prices });
    const answer = await chat.complete(profile, [{ role: "user", content: "write a program" }]);
    expect(answer).toEqual({ value: "print('hi')", usage: { promptTokens: 1200, completionTokens: 300, costUsd: 0.0048 }, calls: 1 });
    expect(server.requests[0]).toMatchObject({ path: "/v1/chat/completions", authorization: "Bearer k" });
    expect(server.requests[0]!.body).toMatchObject({ model: "coder-large", temperature: 0.2, max_tokens: 500 });
  });

  it("retries rate limits and server errors", async () => {
    const server = await endpoint([{ status: 429 }, { status: 503 }, { content: "ok" }]);
    const chat = createChatClient({ baseURL: server.baseURL, maxRetries: 3 });
    expect((await chat.complete(profile, [{ role: "user", content: "x" }])).value).toBe("ok");
    expect(server.requests).toHaveLength(3);
  });

  it("validates a structured answer, repairs an invalid one once, and fails on a second", async () => {
    const valid = await endpoint([{ content: '{"verdict": "SUCCESS", "score": 0.91}', promptTokens: 10, completionTokens: 5 }]);
    const first = await createChatClient({ baseURL: valid.baseURL }).structured(profile, [{ role: "user", content: "judge" }], verdict);
    expect(first).toMatchObject({ value: { verdict: "SUCCESS", score: 0.91 }, calls: 1 });
    expect(valid.requests[0]!.body).toMatchObject({ response_format: { type: "json_object" } });

    const repaired = await endpoint([
      { content: '{"verdict": "MAYBE", "score": 1}', promptTokens: 10, completionTokens: 5 },
      { content: '{"verdict": "FIX", "score": null}', promptTokens: 30, completionTokens: 5 },
    ]);
    const second = await createChatClient({ baseURL: repaired.baseURL, prices }).structured(
      profile,
      [{ role: "user", content: "judge" }],
      verdict,
    );
    expect(second).toMatchObject({ value: { verdict: "FIX", score: null }, calls: 2, usage: { promptTokens: 40, completionTokens: 10 } });
    // The repair shows the model its answer and what was wrong with it.
    const repairMessages = (repaired.requests[1]!.body as { messages: { role: string; content: string }[] }).messages;
    expect(repairMessages.at(-2)).toEqual({ role: "assistant", content: '{"verdict": "MAYBE", "score": 1}' });
    expect(repairMessages.at(-1)!.content).toMatch(/^That answer is not valid: verdict: /);

    const hopeless = await endpoint([
      { content: "no json here", promptTokens: 30, completionTokens: 3 },
      { content: '{"verdict": "SUCCESS"}', promptTokens: 40, completionTokens: 4 },
    ]);
    const attempt = createChatClient({ baseURL: hopeless.baseURL }).structured(profile, [{ role: "user", content: "judge" }], verdict);
    await expect(attempt).rejects.toThrow(UnavailableError);
    await expect(attempt).rejects.toThrow(/invalid twice: score:/);
    // The two calls still count against the task's budget.
    await expect(attempt).rejects.toMatchObject({ calls: 2, usage: { promptTokens: 70, completionTokens: 7 } });
    await expect(attempt).rejects.toBeInstanceOf(InvalidAnswerError);
  });

  it("says which endpoint and model failed once retries are spent, and refuses an empty chat", async () => {
    const server = await endpoint([{ status: 500 }, { status: 500 }]);
    const chat = createChatClient({ baseURL: server.baseURL, maxRetries: 1 });
    await expect(chat.complete(profile, [{ role: "user", content: "x" }])).rejects.toThrow(
      `chat endpoint ${server.baseURL} (model coder-large) failed`,
    );
    await expect(chat.complete(profile, [])).rejects.toThrow(/at least one message/);
  });
});
