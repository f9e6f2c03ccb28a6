import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, REDACTED, withLogFields, type Logger } from "./index.js";

function capture(): { logger: Logger; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger({ service: "test", level: "debug", destination });
  const text = () => chunks.join("");
  return {
    logger,
    text,
    lines: () =>
      text()
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe("createLogger", () => {
  it("redacts credentials by key at any depth and bearer tokens in text, and keeps token counts", () => {
    const { logger, lines, text } = capture();
    logger.info(
      {
        authorization: "Bearer sekret-a",
        request: { headers: { Authorization: "Bearer sekret-b", "x-api-key": "sekret-c" } },
        llm: { apiKey: "sekret-d", api_key: "sekret-e", model: "m" },
        deeper: [{ password: "sekret-f", clientSecret: "sekret-g", accessToken: "sekret-h" }],
        cookie: "session=sekret-i",
        promptTokens: 12,
        maxTokens: 34,
        note: "called with Bearer sekret-j in the header",
      },
      "calling with Bearer sekret-k",
    );
    logger.child({ token: "sekret-l" }).info({}, "child");
    expect(text()).not.toMatch(/sekret/);
    const [first, child] = lines();
    expect(first).toMatchObject({
      authorization: REDACTED,
      request: { headers: { Authorization: REDACTED, "x-api-key": REDACTED } },
      llm: { apiKey: REDACTED, api_key: REDACTED, model: "m" },
      deeper: [{ password: REDACTED, clientSecret: REDACTED, accessToken: REDACTED }],
      cookie: REDACTED,
      promptTokens: 12,
      maxTokens: 34,
      note: `called with Bearer ${REDACTED} in the header`,
      msg: `calling with Bearer ${REDACTED}`,
    });
    expect(child).toMatchObject({ token: REDACTED, msg: "child" });
  });

  it("leaves the caller's objects as they were", () => {
    const { logger } = capture();
    const fields = { nested: { token: "t" } };
    logger.info(fields, "line");
    expect(fields.nested.token).toBe("t");
  });

  it("adds the task, tenant and trace of the work a line is written in", async () => {
    const { logger, lines } = capture();
    await withLogFields({ taskId: "t1", tenant: "acme" }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      await withLogFields({ traceId: "abc" }, async () => logger.info({ iteration: 2 }, "inside"));
      logger.info({ tenant: "named" }, "the line's own field wins");
    });
    logger.info({}, "outside");
    const [inside, own, outside] = lines();
    expect(inside).toMatchObject({ taskId: "t1", tenant: "acme", traceId: "abc", iteration: 2 });
    expect(own).toMatchObject({ taskId: "t1", tenant: "named" });
    expect(outside).not.toHaveProperty("taskId");
  });
});
