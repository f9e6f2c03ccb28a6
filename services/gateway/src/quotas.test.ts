import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ConfigError } from "@mlzero/config";
import { createSilentLogger } from "@mlzero/logging";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadGatewayConfig, quotaPolicyFrom } from "./config.js";
import { NO_QUOTAS, openQuotaFile, parseQuotas, quotaOf } from "./quotas.js";

const logger = createSilentLogger();

describe("parseQuotas", () => {
  it("reads defaults, tenants and totals over the environment's, a tenant's entry over the defaults", () => {
    const base = quotaPolicyFrom(
      loadGatewayConfig({
        MLZERO_WORKSPACE_ROOT: "/srv/workspace",
        MLZERO_TENANT_MAX_RUNNING_TASKS: "2",
        MLZERO_TENANT_MAX_QUEUED_TASKS: "10",
        MLZERO_GATEWAY_MAX_GPUS: "8",
      }),
    );
    expect(base).toEqual({
      defaults: { maxRunningTasks: 2, maxQueuedTasks: 10, maxGpus: 0 },
      tenants: new Map(),
      total: { maxRunningTasks: 0, maxGpus: 8 },
    });
    const policy = parseQuotas(
      JSON.stringify({
        defaults: { max_queued_tasks: 20, max_gpus: 2 },
        tenants: { acme: { max_running_tasks: 8, max_gpus: 0 } },
        total: { max_running_tasks: 16 },
      }),
      base,
    );
    expect(quotaOf(policy, "acme")).toEqual({ maxRunningTasks: 8, maxQueuedTasks: 20, maxGpus: 0 });
    expect(quotaOf(policy, "globex")).toEqual({ maxRunningTasks: 2, maxQueuedTasks: 20, maxGpus: 2 });
    expect(policy.total).toEqual({ maxRunningTasks: 16, maxGpus: 8 });
    expect(parseQuotas("{}")).toEqual(NO_QUOTAS);
  });

  it.each([
    ["not JSON", "max_gpus: 2", /not JSON/],
    ["a misspelt limit", JSON.stringify({ defaults: { max_running: 2 } }), /defaults: Unrecognized key/],
    ["a negative limit", JSON.stringify({ tenants: { acme: { max_gpus: -1 } } }), /tenants\.acme\.max_gpus/],
    ["a fraction", JSON.stringify({ total: { max_running_tasks: 1.5 } }), /total\.max_running_tasks/],
    ["a tenant that is no tenant name", JSON.stringify({ tenants: { "../acme": {} } }), /tenants: "..\/acme" is not a tenant name/],
    ["an array", "[]", /the file/],
  ])("refuses %s", (_, text, message) => {
    expect(() => parseQuotas(text)).toThrow(message);
  });
});

describe("openQuotaFile", () => {
  let dir: string;
  let file: string;
  const write = async (quotas: unknown) => {
    await writeFile(`${file}.new`, typeof quotas === "string" ? quotas : JSON.stringify(quotas));
    await rename(`${file}.new`, file);
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "quotas-"));
    file = path.join(dir, "quotas.json");
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("is a configuration error naming the variable when the file is missing or malformed at start", async () => {
    await expect(openQuotaFile({ file, logger })).rejects.toThrow(ConfigError);
    await expect(openQuotaFile({ file, logger })).rejects.toThrow(/MLZERO_GATEWAY_QUOTAS_FILE: .*cannot read the file \(ENOENT\)/);
    await write({ defaults: { max_gpus: "two" } });
    await expect(openQuotaFile({ file, logger })).rejects.toThrow(/MLZERO_GATEWAY_QUOTAS_FILE: .*defaults\.max_gpus/);
  });

  it("reloads the file when it changes, and keeps the limits in force when a change cannot be parsed", async () => {
    await write({ defaults: { max_running_tasks: 1 } });
    const quotas = await openQuotaFile({ file, logger, checkEveryMs: 0 });
    expect((await quotas.current()).defaults.maxRunningTasks).toBe(1);
    await write({ defaults: { max_running_tasks: 3 }, tenants: { acme: { max_gpus: 4 } } });
    expect(quotaOf(await quotas.current(), "acme")).toEqual({ maxRunningTasks: 3, maxQueuedTasks: 0, maxGpus: 4 });
    await write("{ half a file");
    expect(quotaOf(await quotas.current(), "acme")).toEqual({ maxRunningTasks: 3, maxQueuedTasks: 0, maxGpus: 4 });
    await rm(file);
    expect((await quotas.current()).defaults.maxRunningTasks).toBe(3);
  });
});
