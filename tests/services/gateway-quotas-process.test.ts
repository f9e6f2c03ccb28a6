import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { TaskService, TaskState } from "@mlzero/proto";
import { RpcError, createClient } from "@mlzero/rpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  killServiceProcess,
  runServiceToExit,
  serviceBaseEnv,
  spawnServiceProcess,
  waitUntilServing,
  type ServiceProcess,
} from "../support/cluster-harness.js";
import { freePort } from "../cli/cli-helpers.js";

// The gateway's main as its own process with quotas from a file over the
// environment's defaults: what MLZERO_GATEWAY_QUOTAS_FILE and
// MLZERO_TENANT_* turn on. No pipeline runs, so a started task stays
// started and the others wait.

let dir: string;
let gateway: ServiceProcess | undefined;
let address: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "mlzero-gateway-quotas-"));
  await mkdir(path.join(dir, "data"), { recursive: true });
  await writeFile(path.join(dir, "data", "train.csv"), "id,y\n1,a\n");
  await writeFile(path.join(dir, "quotas.json"), JSON.stringify({ defaults: { max_running_tasks: 1 } }));
  const port = await freePort();
  address = `127.0.0.1:${port}`;
  env = {
    ...(serviceBaseEnv() as Record<string, string>),
    MLZERO_GRPC_HOST: "127.0.0.1",
    MLZERO_GRPC_PORT: String(port),
    MLZERO_WORKSPACE_ROOT: path.join(dir, "workspace"),
    MLZERO_GATEWAY_QUOTAS_FILE: path.join(dir, "quotas.json"),
    MLZERO_TENANT_MAX_QUEUED_TASKS: "1",
    MLZERO_TENANT_MAX_RUNNING_TASKS: "5",
  };
  gateway = spawnServiceProcess("gateway", env);
  await waitUntilServing(gateway, address);
});

afterAll(async () => {
  await killServiceProcess(gateway);
  await rm(dir, { recursive: true, force: true });
});

describe("the gateway process with quotas", () => {
  it("queues a tenant's tasks past its running limit and refuses one past its queued limit with RESOURCE_EXHAUSTED", async () => {
    const client = createClient(TaskService, address, { defaultTimeoutMs: 10_000 });
    try {
      const spec = { inputUri: path.join(dir, "data") };
      const first = (await client.submit({ spec })).task!;
      const second = (await client.submit({ spec })).task!;
      const refused = await client.submit({ spec }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(RpcError);
      expect((refused as RpcError).codeName).toBe("RESOURCE_EXHAUSTED");
      expect((refused as RpcError).message).toBe("tenant default has 1 queued task, its limit is 1");
      expect((await client.get({ taskId: first.taskId })).task?.startedAt).toBeDefined();
      expect((await client.get({ taskId: second.taskId })).task).toMatchObject({
        state: TaskState.QUEUED,
        message: "queued: tenant default runs 1 task, its limit is 1",
      });
    } finally {
      client.close();
    }
    gateway!.child.kill("SIGTERM");
    expect(await gateway!.closed).toEqual({ code: 0, signal: null });
    expect(gateway!.output()).toMatch(/quotas loaded/);
  });

  it("stops at start, naming the variable, on a malformed quota file", async () => {
    await writeFile(path.join(dir, "bad-quotas.json"), JSON.stringify({ defaults: { max_running: 1 } }));
    const bad = await runServiceToExit("gateway", {
      ...env,
      MLZERO_GATEWAY_QUOTAS_FILE: path.join(dir, "bad-quotas.json"),
      MLZERO_GRPC_PORT: "0",
    });
    expect(bad.code, bad.output).toBe(2);
    expect(bad.stderr.trim()).toMatch(
      /^gateway: invalid configuration: MLZERO_GATEWAY_QUOTAS_FILE: .*bad-quotas\.json: the quota file: defaults: /,
    );
  });
});
