import { ConfigError } from "@mlzero/config";
import { describe, expect, it } from "vitest";
import { AGENTS, loadLlmSettings } from "./settings.js";

describe("loadLlmSettings", () => {
  it("is undefined without an endpoint: the offline planner runs", () => {
    expect(loadLlmSettings({})).toBeUndefined();
  });

  it("gives every agent the default model unless its profile names another, with any model name", () => {
    const settings = loadLlmSettings({
      MLZERO_LLM_URL: "http://127.0.0.1:8000/v1",
      MLZERO_LLM_API_KEY: "sk-test",
      MLZERO_LLM_MODEL: "Qwen/Qwen3-32B",
      MLZERO_LLM_PROFILES: JSON.stringify({ coder: { model: "my-org/coder-ft", temperature: 0.2, maxTokens: 4000, timeoutMs: 120000 } }),
      MLZERO_LLM_PRICES: JSON.stringify({ "my-org/coder-ft": { inputPerMillion: 1, outputPerMillion: 3 } }),
    })!;
    expect(Object.keys(settings.profiles)).toEqual([...AGENTS]);
    expect(settings.profiles.verdict).toEqual({ model: "Qwen/Qwen3-32B" });
    expect(settings.profiles.coder).toEqual({ model: "my-org/coder-ft", temperature: 0.2, maxTokens: 4000, timeoutMs: 120000 });
    expect(settings.prices["my-org/coder-ft"]).toEqual({ inputPerMillion: 1, outputPerMillion: 3 });
    expect(settings.apiKey).toBe("sk-test");
  });

  it("says what is wrong: no model for an agent, bad JSON, an unknown agent or key", () => {
    expect(() => loadLlmSettings({ MLZERO_LLM_URL: "http://127.0.0.1:8000/v1" })).toThrow(/agent "perception" has no model/);
    const base = { MLZERO_LLM_URL: "http://127.0.0.1:8000/v1", MLZERO_LLM_MODEL: "m" };
    expect(() => loadLlmSettings({ ...base, MLZERO_LLM_PROFILES: "{" })).toThrow(/MLZERO_LLM_PROFILES: not JSON/);
    expect(() => loadLlmSettings({ ...base, MLZERO_LLM_PROFILES: '{"planner": {}}' })).toThrow(ConfigError);
    expect(() => loadLlmSettings({ ...base, MLZERO_LLM_PROFILES: '{"coder": {"temp": 1}}' })).toThrow(ConfigError);
    expect(() => loadLlmSettings({ ...base, MLZERO_LLM_URL: "ftp://x" })).toThrow(/MLZERO_LLM_URL/);
  });
});
