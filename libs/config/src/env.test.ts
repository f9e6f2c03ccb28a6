import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, address, addresses, flag, json, parseEnv, port } from "./env.js";

describe("parseEnv", () => {
  const shape = {
    MLZERO_PORT: port().default(50051),
    MLZERO_MEMORY_ADDRESS: address(),
    MLZERO_VERBOSE: flag().default(false),
    MLZERO_NAME: z.string().min(1),
  };

  it("reads, trims, coerces and defaults", () => {
    const config = parseEnv(shape, { MLZERO_MEMORY_ADDRESS: " memory:50053 ", MLZERO_VERBOSE: "1", MLZERO_NAME: "x" });
    expect(config).toEqual({ MLZERO_PORT: 50051, MLZERO_MEMORY_ADDRESS: "memory:50053", MLZERO_VERBOSE: true, MLZERO_NAME: "x" });
  });

  it("reports every bad variable by name at once, treating blank as missing", () => {
    const attempt = () => parseEnv(shape, { MLZERO_PORT: "70000", MLZERO_MEMORY_ADDRESS: "no-port", MLZERO_NAME: "  " });
    expect(attempt).toThrow(ConfigError);
    const message = (() => {
      try {
        attempt();
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(message).toMatch(/MLZERO_PORT/);
    expect(message).toMatch(/MLZERO_MEMORY_ADDRESS: expected host:port/);
    expect(message).toMatch(/MLZERO_NAME/);
    expect(message).not.toMatch(/MLZERO_VERBOSE/);
  });

  it("reads a comma-separated address list and names the variable when it is malformed", () => {
    expect(parseEnv({ BROKERS: addresses() }, { BROKERS: "a:9092, b:9093" })).toEqual({ BROKERS: ["a:9092", "b:9093"] });
    expect(() => parseEnv({ BROKERS: addresses() }, { BROKERS: "a:9092,b" })).toThrow(/BROKERS: expected host:port\[,host:port...\]/);
  });

  it("reads a JSON value and names the variable when it is not JSON or not the expected shape", () => {
    const shape = { SELECTOR: json(z.record(z.string(), z.string())) };
    expect(parseEnv(shape, { SELECTOR: '{"pool": "gpu"}' })).toEqual({ SELECTOR: { pool: "gpu" } });
    expect(() => parseEnv(shape, { SELECTOR: "{pool: gpu}" })).toThrow(/SELECTOR: expected JSON/);
    expect(() => parseEnv(shape, { SELECTOR: '{"pool": 1}' })).toThrow(/SELECTOR/);
  });
});
