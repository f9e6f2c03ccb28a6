import { ConfigError } from "@mlzero/config";
import { describe, expect, it } from "vitest";
import { loadGatewayConfig } from "./config.js";

const base = { MLZERO_WORKSPACE_ROOT: "/srv/workspace" };
const brokers = { MLZERO_KAFKA_BROKERS: "127.0.0.1:9092,127.0.0.2:9092" };

describe("gateway config: where task state lives", () => {
  it.each([
    ["in memory by default", {}, { kind: "memory" }],
    ["in files when a state folder is given", { MLZERO_GATEWAY_STATE_DIR: "/srv/state" }, { kind: "file", dir: "/srv/state" }],
    [
      "in Kafka by default with the Kafka bus, even with a state folder",
      { MLZERO_BUS: "kafka", ...brokers, MLZERO_GATEWAY_STATE_DIR: "/srv/state" },
      { kind: "kafka", brokers: ["127.0.0.1:9092", "127.0.0.2:9092"] },
    ],
    [
      "in files when asked, with the Kafka bus",
      { MLZERO_GATEWAY_STATE: "file", MLZERO_BUS: "kafka", ...brokers, MLZERO_GATEWAY_STATE_DIR: "/srv/state" },
      { kind: "file", dir: "/srv/state" },
    ],
    [
      "in memory when asked, with a state folder",
      { MLZERO_GATEWAY_STATE: "memory", MLZERO_GATEWAY_STATE_DIR: "/srv/state" },
      { kind: "memory" },
    ],
    [
      "in Kafka when asked, with the in-process bus",
      { MLZERO_GATEWAY_STATE: "kafka", ...brokers },
      { kind: "kafka", brokers: ["127.0.0.1:9092", "127.0.0.2:9092"] },
    ],
  ])("keeps it %s", (_, env, expected) => {
    expect(loadGatewayConfig({ ...base, ...env }).taskState).toEqual(expected);
  });

  it.each([
    ["an unknown store", { MLZERO_GATEWAY_STATE: "redis" }, "MLZERO_GATEWAY_STATE"],
    [
      "the file store without a folder",
      { MLZERO_GATEWAY_STATE: "file" },
      "MLZERO_GATEWAY_STATE_DIR: required when MLZERO_GATEWAY_STATE is file",
    ],
    [
      "the Kafka store without brokers",
      { MLZERO_GATEWAY_STATE: "kafka" },
      "MLZERO_KAFKA_BROKERS: required when MLZERO_GATEWAY_STATE is kafka",
    ],
    ["the Kafka bus without brokers", { MLZERO_BUS: "kafka" }, "MLZERO_KAFKA_BROKERS: required when MLZERO_BUS is kafka"],
  ])("stops on %s, naming the variable", (_, env, message) => {
    expect(() => loadGatewayConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadGatewayConfig({ ...base, ...env })).toThrow(message);
  });
});

describe("gateway config: access", () => {
  it("has no tokens, no roots and a 15 s Watch heartbeat by default", () => {
    const config = loadGatewayConfig(base);
    expect(config.MLZERO_GATEWAY_TOKENS_FILE).toBeUndefined();
    expect(config.MLZERO_GATEWAY_ALLOWED_ROOTS).toBeUndefined();
    expect(config.MLZERO_GATEWAY_WATCH_HEARTBEAT_SECONDS).toBe(15);
  });

  it("reads allowed roots as comma-separated absolute paths or file:// URIs", () => {
    const config = loadGatewayConfig({
      ...base,
      MLZERO_GATEWAY_ALLOWED_ROOTS: "/srv/data/, file:///mnt/shared ,",
      MLZERO_GATEWAY_TOKENS_FILE: "/etc/mlzero/tokens",
    });
    expect(config.MLZERO_GATEWAY_ALLOWED_ROOTS).toEqual(["/srv/data", "/mnt/shared"]);
    expect(config.MLZERO_GATEWAY_TOKENS_FILE).toBe("/etc/mlzero/tokens");
  });

  it("stops on a relative root, naming the variable", () => {
    expect(() => loadGatewayConfig({ ...base, MLZERO_GATEWAY_ALLOWED_ROOTS: "/srv/data,data" })).toThrow(
      /MLZERO_GATEWAY_ALLOWED_ROOTS: allowed root "data" is not an absolute path/,
    );
  });
});

describe("gateway config: the dashboard", () => {
  it("serves none unless a port is given", () => {
    expect(loadGatewayConfig(base).MLZERO_GATEWAY_DASHBOARD_PORT).toBeUndefined();
    expect(loadGatewayConfig({ ...base, MLZERO_GATEWAY_DASHBOARD_PORT: "8080" }).MLZERO_GATEWAY_DASHBOARD_PORT).toBe(8080);
    expect(loadGatewayConfig({ ...base, MLZERO_GATEWAY_DASHBOARD_PORT: "0" }).MLZERO_GATEWAY_DASHBOARD_PORT).toBe(0);
  });

  it.each(["http", "-1", "65536", "80.5"])("stops on the port %s, naming the variable", (value) => {
    expect(() => loadGatewayConfig({ ...base, MLZERO_GATEWAY_DASHBOARD_PORT: value })).toThrow(/MLZERO_GATEWAY_DASHBOARD_PORT/);
  });
});

describe("gateway config: retention of ended tasks", () => {
  it("keeps them forever by default, and reads hours (fractions too, 0: forever)", () => {
    expect(loadGatewayConfig(base).MLZERO_GATEWAY_TASK_RETENTION_HOURS).toBe(0);
    expect(loadGatewayConfig({ ...base, MLZERO_GATEWAY_TASK_RETENTION_HOURS: "72" }).MLZERO_GATEWAY_TASK_RETENTION_HOURS).toBe(72);
    expect(loadGatewayConfig({ ...base, MLZERO_GATEWAY_TASK_RETENTION_HOURS: "0.5" }).MLZERO_GATEWAY_TASK_RETENTION_HOURS).toBe(0.5);
    expect(loadGatewayConfig({ ...base, MLZERO_GATEWAY_TASK_RETENTION_HOURS: "0" }).MLZERO_GATEWAY_TASK_RETENTION_HOURS).toBe(0);
  });

  it.each(["-1", "a day", "Infinity"])("stops on %s, naming the variable", (value) => {
    expect(() => loadGatewayConfig({ ...base, MLZERO_GATEWAY_TASK_RETENTION_HOURS: value })).toThrow(ConfigError);
    expect(() => loadGatewayConfig({ ...base, MLZERO_GATEWAY_TASK_RETENTION_HOURS: value })).toThrow(
      /^invalid configuration: MLZERO_GATEWAY_TASK_RETENTION_HOURS: /,
    );
  });
});
