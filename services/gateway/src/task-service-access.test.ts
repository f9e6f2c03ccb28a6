import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pathToFileURL } from "node:url";
import { toJson } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { EVENT_NAMES, EVENT_TYPES, createInProcessBus, encodeEvent, type EventHandlers, type InProcessBus } from "@mlzero/bus";
import { createLogger } from "@mlzero/logging";
import { ArtifactKind, LogStream, TaskService, TaskState, type GetArtifactResponse, type Task, type WatchResponse } from "@mlzero/proto";
import {
  clientTlsTransport,
  clientTransportFromEnv,
  createClient,
  serverCredentialsFromEnv,
  startGrpcServer,
  type RpcClient,
  type RunningGrpcServer,
} from "@mlzero/rpc";
import { callOutcome, generateTestCertificates } from "@mlzero/rpc/testing";
import { taskWorkspace } from "@mlzero/workspace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBearerTokenFile } from "./bearer-tokens.js";
import { createFileTaskStore } from "./file-task-store.js";
import { createGatewayModule, type GatewayModule } from "./gateway-module.js";

// The public TaskService of a gateway with tenants, over real gRPC on
// 127.0.0.1: bearer tokens from a file (reloaded), tenant scoping, allowed
// input roots, every status code a client can get, Watch heartbeats, List
// filters and pages, TLS and mutual TLS; and no token ever in the logs, the
// events or the stored state. No pipeline runs: a task stays queued until
// it is cancelled (the gateway projects its own cancel events).

const ACME_TOKEN = `acme-${randomBytes(16).toString("hex")}`;
const GLOBEX_TOKEN = `globex-${randomBytes(16).toString("hex")}`;
const ROTATED_TOKEN = `acme-rotated-${randomBytes(16).toString("hex")}`;
const TOKENS = [ACME_TOKEN, GLOBEX_TOKEN, ROTATED_TOKEN];
const defaults = { maxIterations: 5, timeLimitSeconds: 600, iterationTimeLimitSeconds: 60, memoryLimitBytes: 2 ** 30 };

let dir: string;
let shared: string;
let data: string;
let outside: string;
let workspaceRoot: string;
let stateDir: string;
let tokensFile: string;
let logs = "";
const events: string[] = [];
let bus: InProcessBus;
let gateway: GatewayModule;
let server: RunningGrpcServer;
const clients: RpcClient<typeof TaskService>[] = [];

/** A client of the gateway that sends `authorization` as given (none when undefined). */
function dial(authorization?: string, address = server.address, transport = clientTransportFromEnv({})): RpcClient<typeof TaskService> {
  const client = createClient(TaskService, address, {
    defaultTimeoutMs: 10_000,
    credentials: transport.credentials,
    channelOptions: transport.options,
    metadata: authorization === undefined ? {} : { authorization },
  });
  clients.push(client);
  return client;
}

let acme: RpcClient<typeof TaskService>;
let globex: RpcClient<typeof TaskService>;

/** A Watch read to its end (or its first `limit` updates). */
async function watchAll(stream: AsyncIterable<WatchResponse>, limit = Infinity): Promise<WatchResponse[]> {
  const updates: WatchResponse[] = [];
  for await (const update of stream) {
    updates.push(update);
    if (updates.length >= limit) break;
  }
  return updates;
}

/** A GetArtifact stream read to its end. */
async function collect(stream: AsyncIterable<GetArtifactResponse>): Promise<GetArtifactResponse[]> {
  const chunks: GetArtifactResponse[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** The bytes of a GetArtifact's chunks, in order. */
const joined = (chunks: GetArtifactResponse[]) => Buffer.concat(chunks.map((chunk) => chunk.data));

async function submit(client: RpcClient<typeof TaskService>, extra: { idempotencyKey?: string } = {}): Promise<Task> {
  const { task } = await client.submit({ spec: { inputUri: data }, ...extra });
  return task!;
}

async function cancelAndWait(client: RpcClient<typeof TaskService>, taskId: string): Promise<Task> {
  await client.cancel({ taskId });
  await bus.whenIdle();
  return (await client.get({ taskId })).task!;
}

/** Replaces the token file whole, as a secret update does. */
async function writeTokens(content: string): Promise<void> {
  await writeFile(`${tokensFile}.new`, content);
  await rename(`${tokensFile}.new`, tokensFile);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "task-service-access-"));
  shared = path.join(dir, "shared");
  data = path.join(shared, "churn");
  outside = path.join(dir, "private");
  workspaceRoot = path.join(dir, "workspace");
  stateDir = path.join(dir, "state");
  tokensFile = path.join(dir, "tokens");
  for (const folder of [data, outside]) {
    await mkdir(folder, { recursive: true });
    await writeFile(path.join(folder, "train.csv"), "id,y\n1,a\n2,b\n");
  }
  await symlink(outside, path.join(shared, "escape"));
  await writeTokens(`# tenants of the test\n${ACME_TOKEN} acme\n${GLOBEX_TOKEN} globex\n`);

  const logger = createLogger({
    service: "gateway",
    level: "trace",
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs += chunk.toString();
        done();
      },
    }),
  });
  bus = createInProcessBus({ logger, retryBackoffMs: 1 });
  const spy = Object.fromEntries(
    EVENT_NAMES.map((name) => [
      name,
      async (event: never) => {
        events.push(Buffer.from(encodeEvent(name, event).value).toString("latin1"));
        events.push(JSON.stringify(toJson(EVENT_TYPES[name].schema, event)));
      },
    ]),
  ) as EventHandlers;
  await bus.subscribe({ group: "spy", handlers: spy });
  gateway = createGatewayModule({
    bus,
    logger,
    workspaceRoot,
    defaults,
    store: createFileTaskStore({ dir: stateDir }),
    authenticator: await openBearerTokenFile({ file: tokensFile, logger, checkEveryMs: 0 }),
    allowedRoots: [shared],
    watchHeartbeatMs: 150,
  });
  await bus.subscribe(gateway.pipeline!);
  await gateway.start();
  server = await startGrpcServer({ host: "127.0.0.1", port: 0, logger, services: gateway.grpc, credentials: serverCredentialsFromEnv({}) });
  acme = dial(`Bearer ${ACME_TOKEN}`);
  globex = dial(`Bearer ${GLOBEX_TOKEN}`);
});

afterAll(async () => {
  for (const client of clients) client.close();
  await server?.stop(100);
  await gateway?.stop?.();
  await bus?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("TaskService with bearer tokens and tenants, over gRPC", () => {
  it("is UNAUTHENTICATED on every method without a token, with an unknown one, or with another scheme", async () => {
    const someTask = (await submit(acme)).taskId;
    for (const authorization of [undefined, `Bearer ${randomBytes(20).toString("hex")}`, `Basic ${ACME_TOKEN}`, "Bearer"]) {
      const client = dial(authorization);
      const calls = {
        submit: () => client.submit({ spec: { inputUri: data } }),
        get: () => client.get({ taskId: someTask }),
        watch: () => watchAll(client.watch({ taskId: someTask })),
        cancel: () => client.cancel({ taskId: someTask }),
        list: () => client.list({}),
        getArtifact: () => collect(client.getArtifact({ taskId: someTask, artifact: ArtifactKind.REPORT_JSON })),
      };
      for (const [method, call] of Object.entries(calls)) {
        const result = await callOutcome(call());
        expect(result.code, `${method} with ${authorization === undefined ? "no token" : "a bad token"}`).toBe("UNAUTHENTICATED");
        expect(result.message).toMatch(/bearer token|Bearer <token>/);
      }
    }
    // The refused cancels did nothing: the task still runs.
    await bus.whenIdle();
    expect((await acme.get({ taskId: someTask })).task?.state).toBe(TaskState.PERCEIVING);
  });

  it("shows a tenant only its own tasks: another's is NOT_FOUND on Get, Watch and Cancel, as a missing one is", async () => {
    const task = await submit(acme);
    expect(task.tenant).toBe("acme");
    const missing = `${task.taskId}x`;
    const notFound = (id: string) => ({ code: "NOT_FOUND", message: `task ${id} not found` });
    expect(await callOutcome(globex.get({ taskId: task.taskId }))).toEqual(notFound(task.taskId));
    expect(await callOutcome(globex.get({ taskId: missing }))).toEqual(notFound(missing));
    expect(await callOutcome(watchAll(globex.watch({ taskId: task.taskId })))).toEqual(notFound(task.taskId));
    expect(await callOutcome(watchAll(globex.watch({ taskId: missing })))).toEqual(notFound(missing));
    expect(await callOutcome(globex.cancel({ taskId: task.taskId }))).toEqual(notFound(task.taskId));
    expect(await callOutcome(globex.cancel({ taskId: missing }))).toEqual(notFound(missing));
    // The refused cancel changed nothing.
    await bus.whenIdle();
    expect((await acme.get({ taskId: task.taskId })).task?.state).toBe(TaskState.PERCEIVING);

    const own = await submit(globex);
    const listed = (client: typeof acme) =>
      client.list({ pageSize: 500 }).then(({ tasks }) => tasks.map((listedTask) => listedTask.taskId));
    expect(await listed(acme)).toContain(task.taskId);
    expect(await listed(acme)).not.toContain(own.taskId);
    expect(await listed(globex)).toEqual([own.taskId]);
    // Each tenant's task folders are under its own name.
    expect((await readdir(taskWorkspace(workspaceRoot, "acme", task.taskId).inputDir)).sort()).toEqual(["train.csv"]);
    expect(await readdir(taskWorkspace(workspaceRoot, "globex", own.taskId).inputDir)).toEqual(["train.csv"]);
  });

  it("keeps idempotency keys per tenant, and gives concurrent repeats the same task", async () => {
    const first = await submit(acme, { idempotencyKey: "nightly-1" });
    expect((await submit(acme, { idempotencyKey: "nightly-1" })).taskId).toBe(first.taskId);
    const theirs = await submit(globex, { idempotencyKey: "nightly-1" });
    expect(theirs.taskId).not.toBe(first.taskId);
    expect(theirs.tenant).toBe("globex");
    const burst = await Promise.all(Array.from({ length: 5 }, () => submit(acme, { idempotencyKey: "burst" })));
    expect(new Set(burst.map((task) => task.taskId)).size).toBe(1);
  });

  it("refuses inputs outside the allowed roots with INVALID_ARGUMENT naming them, however the path gets there", async () => {
    for (const inputUri of [
      outside,
      `${shared}/../private`,
      path.join(shared, "escape"),
      pathToFileURL(outside).href,
      workspaceRoot,
      "/",
    ]) {
      const result = await callOutcome(acme.submit({ spec: { inputUri } }));
      expect(result.code, inputUri).toBe("INVALID_ARGUMENT");
      expect(result.message, inputUri).toMatch(new RegExp(`outside the allowed roots: ${shared}$`));
    }
    expect((await callOutcome(acme.submit({ spec: { inputUri: "churn" } }))).message).toMatch(
      /must be an absolute path or a file:\/\/ URI/,
    );
    // Inside a root but missing: NOT_FOUND, as before.
    expect((await callOutcome(acme.submit({ spec: { inputUri: path.join(shared, "nothing") } }))).code).toBe("NOT_FOUND");
    expect((await callOutcome(acme.submit({ spec: { inputUri: pathToFileURL(data).href } }))).code).toBe("OK");
  });

  it("answers malformed requests with INVALID_ARGUMENT and a message that says what is wrong", async () => {
    const task = await submit(acme);
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      ["empty input", () => acme.submit({ spec: { inputUri: " " } }), /names no input folder/],
      ["no spec", () => acme.submit({}), /names no input folder/],
      [
        "a negative time limit",
        () => acme.submit({ spec: { inputUri: data, budget: { timeLimit: durationFromMs(-5_000) } } }),
        /budget.time_limit must not be negative/,
      ],
      [
        "a malformed duration",
        () => acme.submit({ spec: { inputUri: data, budget: { iterationTimeLimit: { seconds: 5n, nanos: -1 } } } }),
        /budget.iteration_time_limit is not a valid duration/,
      ],
      [
        "a time limit of a year",
        () => acme.submit({ spec: { inputUri: data, budget: { timeLimit: { seconds: 31_536_000n } } } }),
        /at most 30 days/,
      ],
      [
        "a NaN cost",
        () => acme.submit({ spec: { inputUri: data, budget: { maxLlmCostUsd: Number.NaN } } }),
        /max_llm_cost_usd must be a number/,
      ],
      ["a negative cost", () => acme.submit({ spec: { inputUri: data, budget: { maxLlmCostUsd: -1 } } }), /max_llm_cost_usd/],
      [
        "fewer max GPUs than one run's",
        () => acme.submit({ spec: { inputUri: data, budget: { gpus: 2, maxGpus: 1 } } }),
        /not even one run would fit/,
      ],
      [
        "a long idempotency key",
        () => acme.submit({ spec: { inputUri: data }, idempotencyKey: "k".repeat(300) }),
        /idempotency_key must be at most 256/,
      ],
      ["an empty task id on Get", () => acme.get({ taskId: "" }), /task_id is required/],
      ["an empty task id on Watch", () => watchAll(acme.watch({ taskId: "" })), /task_id is required/],
      ["an empty task id on Cancel", () => acme.cancel({ taskId: " " }), /task_id is required/],
      ["a page size over 500", () => acme.list({ pageSize: 501 }), /page_size must be at most 500/],
      ["a page token nobody issued", () => acme.list({ pageToken: "b2Zmc2V0OjEw" }), /page_token is not one this service issued/],
      ["a page token that is no token", () => acme.list({ pageToken: "not a token!" }), /page_token is not one this service issued/],
      ["an unknown state", () => acme.list({ state: 42 as TaskState }), /state 42 is not a task state/],
      [
        "an empty time range",
        () => acme.list({ createdAfter: timestampFromMs(2_000), createdBefore: timestampFromMs(1_000) }),
        /created_after must be earlier than created_before/,
      ],
      [
        "a timestamp out of range",
        () => acme.list({ createdAfter: { seconds: 0n, nanos: 2_000_000_000 } }),
        /created_after is not a valid timestamp/,
      ],
    ];
    for (const [what, call, message] of cases) {
      const result = await callOutcome(call());
      expect(result.code, what).toBe("INVALID_ARGUMENT");
      expect(result.message, what).toMatch(message);
    }
    // A page token is bound to its filters.
    await submit(acme);
    const { nextPageToken } = await acme.list({ pageSize: 1 });
    expect(nextPageToken).not.toBe("");
    const other = await callOutcome(acme.list({ pageSize: 1, pageToken: nextPageToken, state: TaskState.PERCEIVING }));
    expect(other).toEqual({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/issued for other filters/) as unknown as string });
    // And to its tenant: another's token tells it nothing.
    expect((await callOutcome(globex.list({ pageSize: 1, pageToken: nextPageToken }))).code).toBe("INVALID_ARGUMENT");
    await bus.whenIdle();
    expect((await acme.get({ taskId: task.taskId })).task?.state).toBe(TaskState.PERCEIVING);
  });

  it("cancels a running task once; cancelling it again, finished, is FAILED_PRECONDITION", async () => {
    const task = await submit(acme);
    const cancelled = await cancelAndWait(acme, task.taskId);
    expect(cancelled.state).toBe(TaskState.CANCELLED);
    const again = await callOutcome(acme.cancel({ taskId: task.taskId }));
    expect(again).toEqual({
      code: "FAILED_PRECONDITION",
      message: `task ${task.taskId} has already finished (cancelled): there is nothing to cancel`,
    });
  });

  it("lists newest first by pages whose tokens survive new submissions, filtered by state and creation time", async () => {
    const fresh = dial(`Bearer ${GLOBEX_TOKEN}`);
    const before = (await fresh.list({ pageSize: 500 })).tasks.map((task) => task.taskId);
    const submitted: Task[] = [];
    for (let index = 0; index < 5; index++) {
      submitted.push(await submit(fresh));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const all = [...submitted.map((task) => task.taskId).reverse(), ...before];
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await fresh.list({ pageSize: 2, pageToken });
      seen.push(...page.tasks.map((task) => task.taskId));
      pageToken = page.nextPageToken;
      // A task submitted between pages goes to the top, and shifts nothing.
      if (pages++ === 0) await submit(fresh);
    } while (pageToken);
    expect(seen).toEqual(all);

    await cancelAndWait(fresh, submitted[1]!.taskId);
    const cancelled = await fresh.list({ state: TaskState.CANCELLED });
    expect(cancelled.tasks.map((task) => task.taskId)).toEqual([submitted[1]!.taskId]);
    const from = submitted[2]!.createdAt!;
    const until = submitted[4]!.createdAt!;
    const window = await fresh.list({ createdAfter: from, createdBefore: until });
    expect(window.tasks.map((task) => task.taskId)).toEqual([submitted[3]!.taskId, submitted[2]!.taskId]);
    expect(window.tasks.every((task) => timestampMs(task.createdAt!) >= timestampMs(from))).toBe(true);
  });

  it("sends Watch heartbeats while nothing happens, and resumes from a heartbeat's sequence", async () => {
    const { taskId } = await submit(acme);
    await bus.whenIdle();
    const now = (await acme.get({ taskId })).task!;
    const controller = new AbortController();
    const started = Date.now();
    const first = await watchAll(acme.watch({ taskId }, { signal: controller.signal }), Number(now.sequence) + 2);
    controller.abort();
    expect(first.map((update) => update.event).slice(-3)).toEqual(["TaskSubmitted", "Heartbeat", "Heartbeat"]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    const heartbeat = first.at(-1)!;
    expect(heartbeat.heartbeat).toBe(true);
    expect(heartbeat.sequence).toBe(now.sequence);
    expect(heartbeat.task).toEqual(now);
    expect(first.filter((update) => !update.heartbeat).map((update) => update.sequence)).toEqual(
      Array.from({ length: Number(now.sequence) }, (_, index) => BigInt(index + 1)),
    );
    const task = now;

    await cancelAndWait(acme, task.taskId);
    const rest = await watchAll(acme.watch({ taskId: task.taskId, afterSequence: heartbeat.sequence }));
    expect(rest.at(-1)?.event).toBe("TaskFinished");
    expect(rest[0]!.sequence).toBe(heartbeat.sequence + 1n);
    expect(rest.at(-1)?.task?.state).toBe(TaskState.CANCELLED);
  });

  it("reloads the token file when it changes: a rotated token works at once, a revoked one is refused", async () => {
    const task = await submit(acme);
    await writeTokens(`${ROTATED_TOKEN} acme\n${GLOBEX_TOKEN} globex\n`);
    expect((await callOutcome(acme.get({ taskId: task.taskId }))).code).toBe("UNAUTHENTICATED");
    const rotated = dial(`Bearer ${ROTATED_TOKEN}`);
    expect((await rotated.get({ taskId: task.taskId })).task?.tenant).toBe("acme");
    await writeTokens(`${ROTATED_TOKEN} acme\n${ACME_TOKEN} acme\n${GLOBEX_TOKEN} globex\n`);
    expect((await acme.get({ taskId: task.taskId })).task?.taskId).toBe(task.taskId);
  });

  it("serves the same over mutual TLS: no client certificate, no connection; a certificate without a token, UNAUTHENTICATED", async () => {
    const certs = await generateTestCertificates(path.join(dir, "certs"));
    const env = { MLZERO_TLS_CERT: certs.serverCert, MLZERO_TLS_KEY: certs.serverKey, MLZERO_TLS_CLIENT_CA: certs.caCert };
    const secure = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      logger: createLogger({ service: "gateway", level: "silent" }),
      services: gateway.grpc,
      credentials: serverCredentialsFromEnv(env),
    });
    try {
      const ca = await readFile(certs.caCert);
      const withCert = clientTlsTransport({ ca, cert: await readFile(certs.clientCert), key: await readFile(certs.clientKey) });
      const task = await dial(`Bearer ${ACME_TOKEN}`, secure.address, withCert).submit({ spec: { inputUri: data } });
      expect(task.task?.tenant).toBe("acme");
      expect((await callOutcome(dial(undefined, secure.address, withCert).list({}))).code).toBe("UNAUTHENTICATED");
      expect((await callOutcome(dial(`Bearer ${ACME_TOKEN}`, secure.address, clientTlsTransport({ ca })).list({}))).code).toBe(
        "UNAVAILABLE",
      );
      expect((await callOutcome(dial(`Bearer ${ACME_TOKEN}`, secure.address).list({}))).code).toBe("UNAVAILABLE");
    } finally {
      await secure.stop(100);
    }
  });

  it("streams a big log in chunks of at most 64 KiB, byte for byte, while the task runs and once it finished", async () => {
    const task = await submit(acme);
    await bus.whenIdle();
    const workspace = taskWorkspace(workspaceRoot, "acme", task.taskId);
    // What a running program left: a big stdout, an empty stderr.
    const log = randomBytes(5 * 64 * 1024 + 1234);
    await mkdir(workspace.iterationDir(1), { recursive: true });
    await writeFile(path.join(workspace.iterationDir(1), "stdout.log"), log);
    await writeFile(path.join(workspace.iterationDir(1), "stderr.log"), "");
    const logs = (logStream = LogStream.STDOUT, iteration = 1) =>
      collect(acme.getArtifact({ taskId: task.taskId, artifact: ArtifactKind.LOGS, iteration, logStream }));

    const check = (chunks: GetArtifactResponse[]) => {
      expect(chunks).toHaveLength(6);
      expect(chunks.every((chunk) => chunk.data.length > 0 && chunk.data.length <= 64 * 1024)).toBe(true);
      expect(joined(chunks).equals(log)).toBe(true);
      expect(chunks[0]).toMatchObject({ fileName: "stdout.log", totalSize: BigInt(log.length), contentType: "text/plain" });
      expect(chunks.slice(1).every((chunk) => chunk.fileName === "" && chunk.totalSize === 0n && chunk.contentType === "")).toBe(true);
    };
    check(await logs());
    // An empty file is one empty chunk that says what it is.
    const empty = await logs(LogStream.STDERR);
    expect(empty).toHaveLength(1);
    expect(empty[0]).toMatchObject({ fileName: "stderr.log", totalSize: 0n, data: new Uint8Array(0) });

    // Unfinished: its final artifacts do not exist yet.
    for (const [artifact, name] of [
      [ArtifactKind.PREDICTIONS, "predictions exist"],
      [ArtifactKind.PROGRAM, "program exists"],
      [ArtifactKind.REPORT_JSON, "report.json exists"],
      [ArtifactKind.REPORT_MD, "report.md exists"],
    ] as const) {
      expect(await callOutcome(collect(acme.getArtifact({ taskId: task.taskId, artifact })))).toEqual({
        code: "FAILED_PRECONDITION",
        message: `task ${task.taskId} is PERCEIVING: its ${name} once it finishes`,
      });
    }
    expect(await callOutcome(logs(LogStream.STDOUT, 2))).toEqual({
      code: "NOT_FOUND",
      message: `task ${task.taskId} has no stdout log for iteration 2`,
    });

    // Another tenant's task is NOT_FOUND as a missing one, whatever it asks.
    for (const taskId of [task.taskId, `${task.taskId}x`]) {
      for (const artifact of [ArtifactKind.LOGS, ArtifactKind.PREDICTIONS]) {
        expect(await callOutcome(collect(globex.getArtifact({ taskId, artifact, iteration: 1 })))).toEqual({
          code: "NOT_FOUND",
          message: `task ${taskId} not found`,
        });
      }
    }

    // Finished (cancelled): the log comes from the output folder; there are no predictions nor program.
    await cancelAndWait(acme, task.taskId);
    await rm(workspace.iterationDir(1), { recursive: true });
    check(await logs());
    expect(await callOutcome(collect(acme.getArtifact({ taskId: task.taskId, artifact: ArtifactKind.PREDICTIONS })))).toEqual({
      code: "NOT_FOUND",
      message: `task ${task.taskId} has no predictions (it cancelled: cancelled by the client)`,
    });
    expect(await callOutcome(collect(acme.getArtifact({ taskId: task.taskId, artifact: ArtifactKind.PROGRAM })))).toMatchObject({
      code: "NOT_FOUND",
      message: expect.stringMatching(/has no program/) as unknown as string,
    });
    const report = await collect(acme.getArtifact({ taskId: task.taskId, artifact: ArtifactKind.REPORT_JSON }));
    expect(report[0]).toMatchObject({ fileName: "report.json", contentType: "application/json" });
    expect(JSON.parse(joined(report).toString())).toMatchObject({ task_id: task.taskId, status: "cancelled", predictions: null });
    const markdown = await collect(acme.getArtifact({ taskId: task.taskId, artifact: ArtifactKind.REPORT_MD }));
    expect(joined(markdown).toString()).toMatch(`# mlzero task ${task.taskId}: cancelled`);
    expect(markdown[0]?.contentType).toBe("text/markdown");
  });

  it("answers a bad GetArtifact with INVALID_ARGUMENT, and never serves a file outside the task's folders", async () => {
    const task = await submit(acme);
    const get = (request: { artifact: ArtifactKind; iteration?: number; logStream?: LogStream }) =>
      callOutcome(collect(acme.getArtifact({ taskId: task.taskId, ...request })));
    const cases: [string, Promise<{ code: string; message: string }>, RegExp][] = [
      ["no artifact", get({ artifact: ArtifactKind.UNSPECIFIED }), /artifact must be one of/],
      ["an unknown artifact", get({ artifact: 42 as ArtifactKind }), /artifact must be one of .*got 42/],
      ["logs without an iteration", get({ artifact: ArtifactKind.LOGS }), /iteration is required for logs/],
      [
        "an unknown stream",
        get({ artifact: ArtifactKind.LOGS, iteration: 1, logStream: 7 as LogStream }),
        /log_stream must be stdout or stderr/,
      ],
      ["an iteration for predictions", get({ artifact: ArtifactKind.PREDICTIONS, iteration: 1 }), /only for logs/],
    ];
    for (const [what, call, message] of cases) {
      const result = await call;
      expect(result.code, what).toBe("INVALID_ARGUMENT");
      expect(result.message, what).toMatch(message);
    }
    expect((await callOutcome(collect(acme.getArtifact({ taskId: " ", artifact: ArtifactKind.PROGRAM })))).message).toMatch(
      /task_id is required/,
    );

    // A program that links its log, or its iteration folder, to a file outside: NOT_FOUND, nothing of it sent.
    const workspace = taskWorkspace(workspaceRoot, "acme", task.taskId);
    await mkdir(workspace.iterationDir(1), { recursive: true });
    await symlink(path.join(outside, "train.csv"), path.join(workspace.iterationDir(1), "stdout.log"));
    await symlink(outside, workspace.iterationDir(2));
    await writeFile(path.join(outside, "stdout.log"), "secret\n");
    for (const iteration of [1, 2]) {
      expect(await get({ artifact: ArtifactKind.LOGS, iteration }), `iteration ${iteration}`).toEqual({
        code: "NOT_FOUND",
        message: `task ${task.taskId} has no stdout log for iteration ${iteration}`,
      });
    }
    // Finished: the output folder's files, linked out, are refused the same.
    await cancelAndWait(acme, task.taskId);
    await rm(path.join(workspace.outputDir, "report.md"));
    await symlink(path.join(outside, "train.csv"), path.join(workspace.outputDir, "report.md"));
    expect(await get({ artifact: ArtifactKind.REPORT_MD })).toEqual({ code: "NOT_FOUND", message: `task ${task.taskId} has no report.md` });
    await mkdir(path.join(workspace.outputDir, "iterations", "iter-003"), { recursive: true });
    await symlink(path.join(outside, "stdout.log"), path.join(workspace.outputDir, "iterations", "iter-003", "stdout.log"));
    expect((await get({ artifact: ArtifactKind.LOGS, iteration: 3 })).code).toBe("NOT_FOUND");
  });

  it("never lets a token into the logs, the events, the stored task state or the task folders", async () => {
    await bus.whenIdle();
    expect(logs).toMatch(/task submitted/);
    expect(events.length).toBeGreaterThan(10);
    const stored = await filesUnder(stateDir);
    const folders = await filesUnder(workspaceRoot);
    expect(stored.length).toBeGreaterThan(5);
    for (const token of TOKENS) {
      expect(logs.includes(token), "logs").toBe(false);
      expect(
        events.some((event) => event.includes(token)),
        "events",
      ).toBe(false);
      expect(
        stored.some((content) => content.includes(token)),
        "stored state",
      ).toBe(false);
      expect(
        folders.some((content) => content.includes(token)),
        "task folders",
      ).toBe(false);
    }
  });
});

/** The content of every file under `folder`, as latin1 text. */
async function filesUnder(folder: string): Promise<string[]> {
  const contents: string[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) contents.push(await readFile(path.join(entry.parentPath, entry.name), "latin1"));
  }
  return contents;
}
