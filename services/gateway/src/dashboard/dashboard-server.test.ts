import { randomBytes } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { get as httpsGet } from "node:https";
import { tmpdir } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { createInProcessBus, newEnvelope, type InProcessBus } from "@mlzero/bus";
import { createLogger, createSilentLogger, type Logger } from "@mlzero/logging";
import { ExecutionProgressSchema, TaskService } from "@mlzero/proto";
import { localClient, serverIdentityFromEnv } from "@mlzero/rpc";
import { generateTestCertificates, type TestCertificates } from "@mlzero/rpc/testing";
import { taskWorkspace } from "@mlzero/workspace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBearerTokenFile } from "../bearer-tokens.js";
import { createGatewayModule, type GatewayModule } from "../gateway-module.js";
import { startDashboardServer, type DashboardServer } from "./dashboard-server.js";

// The dashboard's HTTP server over real HTTP on 127.0.0.1, in front of a
// gateway module with two tenants' bearer tokens: what each route answers, its
// status codes and headers, the event stream and downloads. No pipeline runs:
// a task stays at perceiving until it is cancelled (the gateway projects its
// own cancel events).

const ACME_TOKEN = `acme-${randomBytes(16).toString("hex")}`;
const GLOBEX_TOKEN = `globex-${randomBytes(16).toString("hex")}`;
const defaults = { maxIterations: 5, timeLimitSeconds: 600, iterationTimeLimitSeconds: 60, memoryLimitBytes: 2 ** 30 };
const CSP = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

let dir: string;
let data: string;
let workspaceRoot: string;
let logs = "";
let bus: InProcessBus;
let gateway: GatewayModule;
let dashboard: DashboardServer;

const asAcme = { authorization: `Bearer ${ACME_TOKEN}` };
const asGlobex = { authorization: `Bearer ${GLOBEX_TOKEN}` };

function get(route: string, headers: Record<string, string> = asAcme, init: RequestInit = {}): Promise<Response> {
  return fetch(new URL(route, dashboard.url), { headers, ...init });
}

/** A JSON answer's status and body. */
async function json(response: Response | Promise<Response>): Promise<{ status: number; body: Record<string, unknown> }> {
  const answered = await response;
  return { status: answered.status, body: (await answered.json()) as Record<string, unknown> };
}

const failure = (code: string, message: string | RegExp) => ({
  error: { code, message: typeof message === "string" ? message : expect.stringMatching(message) },
});

async function submit(headers = asAcme): Promise<string> {
  const tasks = localClient(TaskService, gateway.taskService);
  const { task } = await tasks.submit({ spec: { inputUri: data } }, { metadata: headers });
  await bus.whenIdle();
  return task!.taskId;
}

/** A text/event-stream body read to its end: each event's type and data. */
async function readEvents(response: Response): Promise<{ type: string; id?: string; data: string }[]> {
  const events = [];
  for (const block of (await response.text()).split("\n\n")) {
    if (!block.trim()) continue;
    const event = { type: "message", data: "" } as { type: string; id?: string; data: string };
    for (const line of block.split("\n")) {
      const [field, ...rest] = line.split(": ");
      const value = rest.join(": ");
      if (field === "event") event.type = value;
      else if (field === "id") event.id = value;
      else if (field === "data") event.data += value;
    }
    events.push(event);
  }
  return events;
}

function capturingLogger(): Logger {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs += chunk.toString();
      done();
    },
  });
  return createLogger({ service: "gateway", level: "trace", destination });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "dashboard-server-"));
  data = path.join(dir, "data");
  workspaceRoot = path.join(dir, "workspace");
  await mkdir(data);
  await writeFile(path.join(data, "train.csv"), "id,y\n1,a\n2,b\n");
  await writeFile(path.join(dir, "tokens"), `${ACME_TOKEN} acme\n${GLOBEX_TOKEN} globex\n`);
  const logger = capturingLogger();
  bus = createInProcessBus({ logger, retryBackoffMs: 1 });
  gateway = createGatewayModule({
    bus,
    logger,
    workspaceRoot,
    defaults,
    authenticator: await openBearerTokenFile({ file: path.join(dir, "tokens"), logger, checkEveryMs: 0 }),
  });
  await bus.subscribe(gateway.pipeline!);
  dashboard = await startDashboardServer({ host: "127.0.0.1", port: 0, tasks: localClient(TaskService, gateway.taskService), logger });
});

afterAll(async () => {
  await dashboard?.close();
  await gateway?.stop?.();
  await bus?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("the dashboard's HTTP server", () => {
  it("serves the page and its script and style, with a strict Content-Security-Policy and nosniff on every answer", async () => {
    expect(dashboard.url).toBe(`http://127.0.0.1:${dashboard.port}/`);
    for (const [route, type, content] of [
      ["/", "text/html; charset=utf-8", '<script type="module" src="app.js"></script>'],
      ["/app.js", "text/javascript; charset=utf-8", "textContent"],
      ["/style.css", "text/css; charset=utf-8", ".panel"],
    ]) {
      const response = await get(route!, {});
      expect(response.status, route).toBe(200);
      expect(response.headers.get("content-type")).toBe(type);
      expect(await response.text()).toContain(content);
    }
    // The page holds no inline script or style, so the policy need not allow any.
    const page = await (await get("/", {})).text();
    expect(page).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=/i);
    for (const response of [await get("/"), await get("/api/tasks"), await get("/api/tasks", {}), await get("/nowhere")]) {
      expect(response.headers.get("content-security-policy")).toBe(CSP);
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    }
  });

  it("answers 401 on every API route without a valid bearer token", async () => {
    const taskId = await submit();
    const refused: Record<string, string>[] = [
      {},
      { authorization: `Bearer ${randomBytes(20).toString("hex")}` },
      { authorization: `Basic ${ACME_TOKEN}` },
    ];
    for (const headers of refused) {
      for (const route of [
        "/api/tasks",
        `/api/tasks/${taskId}`,
        `/api/tasks/${taskId}/events`,
        `/api/tasks/${taskId}/artifacts/logs?iteration=1`,
      ]) {
        expect(await json(get(route, headers)), route).toEqual({
          status: 401,
          body: failure("UNAUTHENTICATED", /bearer token|Bearer <token>/),
        });
      }
    }
  });

  it("shows a tenant its own tasks only: another tenant's task is 404, as a missing one", async () => {
    const mine = await submit(asAcme);
    const theirs = await submit(asGlobex);
    const { status, body } = await json(get("/api/tasks"));
    expect(status).toBe(200);
    const listed = (body.tasks as { taskId: string; tenant: string; state: string }[]).map((task) => task.taskId);
    expect(listed).toContain(mine);
    expect(listed).not.toContain(theirs);
    expect(await json(get(`/api/tasks/${mine}`))).toMatchObject({
      status: 200,
      body: { task: { taskId: mine, tenant: "acme", state: "TASK_STATE_PERCEIVING" } },
    });
    for (const route of [`/api/tasks/${theirs}`, `/api/tasks/${theirs}/events`, `/api/tasks/${theirs}/artifacts/report`]) {
      expect(await json(get(route)), route).toEqual({ status: 404, body: failure("NOT_FOUND", `task ${theirs} not found`) });
    }
    expect(await json(get("/api/tasks/t-missing"))).toEqual({ status: 404, body: failure("NOT_FOUND", "task t-missing not found") });
    // The state filter and pages are List's own.
    const perceiving = await json(get("/api/tasks?state=perceiving&page_size=1"));
    expect(perceiving.status).toBe(200);
    expect((perceiving.body.tasks as unknown[]).length).toBe(1);
    const next = await json(get(`/api/tasks?state=perceiving&page_size=1&page_token=${perceiving.body.nextPageToken as string}`));
    expect(next.status).toBe(200);
    expect((await json(get("/api/tasks?state=SUCCEEDED"))).body).toEqual({});
  });

  it("answers 400 to a malformed request, naming what is wrong", async () => {
    const taskId = await submit();
    for (const [route, message] of [
      ["/api/tasks?state=done", /^state must be one of queued, perceiving, .*, cancelled, got "done"$/],
      ["/api/tasks?page_size=ten", /^page_size must be a whole number/],
      ["/api/tasks?page_size=501", /^page_size must be at most 500/],
      ["/api/tasks?page_token=forged", /^page_token is not one this service issued/],
      [`/api/tasks/${taskId}/events?after=-1`, /^after must be a sequence number/],
      [`/api/tasks/${taskId}/artifacts/logs?iteration=0`, /^iteration must be a whole number from 1/],
      [`/api/tasks/${taskId}/artifacts/logs?iteration=1&stream=stdin`, /^stream must be stdout or stderr, got "stdin"$/],
      [`/api/tasks/${taskId}/artifacts/logs`, /^iteration is required for logs/],
      [`/api/tasks/${taskId}/artifacts/program?iteration=1`, /^iteration and log_stream are only for logs$/],
      ["/api/tasks/%E0%A4%A", /is not valid percent-encoding$/],
      ["/api/tasks/%20", /^task_id is required$/],
    ] as const) {
      expect(await json(get(route)), route).toEqual({ status: 400, body: failure("INVALID_ARGUMENT", message) });
    }
    expect(await json(get(`/api/tasks/${taskId}/artifacts/secrets`))).toEqual({
      status: 404,
      body: failure("NOT_FOUND", 'no artifact "secrets": one of predictions, program, report, report-md, logs'),
    });
  });

  it("answers 409 for a final artifact before the task ended, then streams it as a download once it did", async () => {
    const taskId = await submit();
    for (const artifact of ["predictions", "program", "report", "report-md"]) {
      expect(await json(get(`/api/tasks/${taskId}/artifacts/${artifact}`)), artifact).toEqual({
        status: 409,
        body: failure("FAILED_PRECONDITION", new RegExp(`^task ${taskId} is PERCEIVING: its \\S+ exists? once it finishes$`)),
      });
    }
    // A running iteration's log, as written so far.
    const workspace = taskWorkspace(workspaceRoot, "acme", taskId);
    const log = randomBytes(3 * 64 * 1024 + 17);
    await mkdir(workspace.iterationDir(1), { recursive: true });
    await writeFile(path.join(workspace.iterationDir(1), "stdout.log"), log);
    const running = await get(`/api/tasks/${taskId}/artifacts/logs?iteration=1&stream=stdout`);
    expect(running.status).toBe(200);
    expect(running.headers.get("content-disposition")).toBe('attachment; filename="stdout.log"');
    expect(running.headers.get("content-length")).toBe(String(log.length));
    expect(Buffer.from(await running.arrayBuffer()).equals(log)).toBe(true);

    await localClient(TaskService, gateway.taskService).cancel({ taskId }, { metadata: asAcme });
    await bus.whenIdle();
    const report = await get(`/api/tasks/${taskId}/artifacts/report`);
    expect(report.status).toBe(200);
    expect(report.headers.get("content-type")).toBe("application/json");
    expect(report.headers.get("content-disposition")).toBe('attachment; filename="report.json"');
    expect(report.headers.get("cache-control")).toBe("no-store");
    expect(await report.text()).toBe(await readFile(path.join(workspace.outputDir, "report.json"), "utf8"));
    expect(await json(get(`/api/tasks/${taskId}/artifacts/predictions`))).toEqual({
      status: 404,
      body: failure("NOT_FOUND", new RegExp(`^task ${taskId} has no predictions \\(it cancelled`)),
    });
  });

  it("streams a task's updates as Server-Sent Events, log tails included, until the task ends", async () => {
    const taskId = await submit();
    const { body } = await json(get(`/api/tasks/${taskId}`));
    const seen = BigInt((body.task as { sequence: string }).sequence);
    const stream = await get(`/api/tasks/${taskId}/events?after=${seen}`);
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const events = readEvents(stream);
    await bus.publish(
      "ExecutionProgress",
      create(ExecutionProgressSchema, {
        envelope: newEnvelope({ taskId, tenant: "acme", iteration: 0 }),
        logTail: "epoch 3: loss 0.125\n",
      }),
    );
    await bus.whenIdle();
    await localClient(TaskService, gateway.taskService).cancel({ taskId, reason: "enough" }, { metadata: asAcme });
    const received = await events;
    expect(received.at(-1)).toEqual({ type: "end", data: "{}" });
    expect(received.slice(0, -1).every((event) => event.type === "update")).toBe(true);
    const updates = received
      .slice(0, -1)
      .map((event) => ({ id: event.id, ...(JSON.parse(event.data) as { sequence: string; event: string; heartbeat?: boolean }) }))
      .filter((update) => !update.heartbeat);
    // Only what came after the sequence asked for, in order, each with its sequence as the event id.
    expect(updates.map((update) => update.id)).toEqual(updates.map((update) => update.sequence));
    expect(updates.map((update) => BigInt(update.sequence))).toEqual(updates.map((_, index) => seen + 1n + BigInt(index)));
    expect(updates.find((update) => update.event === "ExecutionProgress")).toMatchObject({ logTail: "epoch 3: loss 0.125\n" });
    expect(updates.at(-1)).toMatchObject({ event: "TaskFinished", task: { state: "TASK_STATE_CANCELLED", message: "enough" } });
  });

  it("answers 405 to a method other than GET and 404 to an unknown path", async () => {
    for (const [route, method] of [
      ["/", "POST"],
      ["/api/tasks", "POST"],
      ["/api/tasks/t1", "DELETE"],
      ["/app.js", "PUT"],
    ]) {
      const response = await get(route!, asAcme, { method });
      expect(response.status, `${method} ${route}`).toBe(405);
      expect(response.headers.get("allow")).toBe("GET");
      expect(await response.json()).toEqual(failure("METHOD_NOT_ALLOWED", `${method} is not served here: only GET`));
    }
    for (const route of ["/index.html", "/api", "/api/tasks/t1/logs", "/api/tasks/t1/artifacts/", "/../etc/passwd"]) {
      expect((await get(route)).status, route).toBe(404);
    }
  });

  it("cuts a live event stream when it closes", async () => {
    const taskId = await submit();
    const own = await startDashboardServer({
      host: "127.0.0.1",
      port: 0,
      tasks: localClient(TaskService, gateway.taskService),
      logger: createSilentLogger(),
    });
    const stream = await fetch(new URL(`/api/tasks/${taskId}/events`, own.url), { headers: asAcme });
    const reader = stream.body!.getReader();
    await reader.read(); // the replay has begun
    const started = Date.now();
    await own.close();
    await expect(
      (async () => {
        while (!(await reader.read()).done);
      })(),
    ).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("answers 500 with nothing more when the gateway fails inside, and logs what happened", async () => {
    const broken = createGatewayModule({
      bus,
      logger: capturingLogger(),
      workspaceRoot,
      defaults,
      store: {
        loadAll: () => Promise.reject(new Error("cannot read /srv/state/t1.json: EIO")),
        save: () => Promise.resolve(),
        delete: () => Promise.resolve(),
      },
    });
    const server = await startDashboardServer({
      host: "127.0.0.1",
      port: 0,
      tasks: localClient(TaskService, broken.taskService),
      logger: capturingLogger(),
    });
    try {
      expect(await json(fetch(new URL("/api/tasks", server.url)))).toEqual({ status: 500, body: failure("INTERNAL", "internal error") });
      expect(logs).toContain("cannot read /srv/state/t1.json: EIO");
    } finally {
      await server.close();
    }
  });

  it("never writes a token to its logs", () => {
    expect(logs).toMatch(/"msg":"dashboard"/); // requests were logged, by path
    for (const token of [ACME_TOKEN, GLOBEX_TOKEN]) expect(logs.includes(token), "a token in the logs").toBe(false);
  });
});

describe("the dashboard over HTTPS", () => {
  it("serves the gRPC server's certificate, and a rotated one to new connections", async () => {
    const live = path.join(dir, "tls");
    const [first, rotated] = [
      await generateTestCertificates(path.join(dir, "certs-1")),
      await generateTestCertificates(path.join(dir, "certs-2")),
    ];
    await mkdir(live);
    const install = async (from: TestCertificates) => {
      await copyFile(from.serverCert, path.join(live, "tls.crt"));
      await copyFile(from.serverKey, path.join(live, "tls.key"));
    };
    await install(first);
    const identity = serverIdentityFromEnv({
      MLZERO_TLS_CERT: path.join(live, "tls.crt"),
      MLZERO_TLS_KEY: path.join(live, "tls.key"),
      MLZERO_TLS_RELOAD_SECONDS: "0.05",
    });
    const secure = await startDashboardServer({
      host: "127.0.0.1",
      port: 0,
      tasks: localClient(TaskService, gateway.taskService),
      logger: createSilentLogger(),
      identity,
    });
    /** The status of GET /api/tasks as acme, over TLS checked against `trusted`'s CA; the TLS error's code when it fails. */
    const statusTrusting = async (trusted: TestCertificates) => {
      const ca = await readFile(trusted.caCert);
      return new Promise<number | string>((resolve) => {
        const request = httpsGet(new URL("api/tasks", secure.url), { ca, headers: asAcme, agent: false }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        request.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
    };
    try {
      expect(secure.url).toBe(`https://127.0.0.1:${secure.port}/`);
      expect(await statusTrusting(first)).toBe(200);
      await install(rotated);
      await sleep(300);
      expect(await statusTrusting(rotated)).toBe(200);
      expect(await statusTrusting(first)).not.toBe(200);
    } finally {
      await secure.close();
    }
  });
});

describe("the dashboard's start", () => {
  it("says which address it could not serve on", async () => {
    const tasks = localClient(TaskService, gateway.taskService);
    await expect(startDashboardServer({ host: "127.0.0.1", port: dashboard.port, tasks, logger: createSilentLogger() })).rejects.toThrow(
      `cannot serve the dashboard on 127.0.0.1:${dashboard.port}: listen EADDRINUSE`,
    );
  });
});
