import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { InvalidInputError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import type { ReloadingCertificateFiles } from "@mlzero/rpc";
import { listenHttp } from "@mlzero/telemetry";
import {
  downloadArtifact,
  errorAnswer,
  errorBody,
  getTask,
  listTasks,
  sendJson,
  streamTaskEvents,
  type ApiCall,
  type DashboardTasks,
} from "./dashboard-api.js";

/** Options for {@link startDashboardServer}. */
export interface DashboardServerOptions {
  /** Interface to bind, e.g. "127.0.0.1" or "0.0.0.0". */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * The gateway's TaskService in this process (`localClient(TaskService,
   * gateway.taskService)`): every API request is a call of its handlers, with
   * the request's Authorization header as metadata.
   */
  tasks: DashboardTasks;
  logger: Logger;
  /**
   * Serve HTTPS with this certificate and key (the gRPC server's own, see
   * `serverIdentityFromEnv`), taking a rotated one for new connections;
   * plain HTTP without. A browser brings no client certificate: tokens, not
   * mutual TLS, say who calls.
   */
  identity?: ReloadingCertificateFiles;
}

/** A started dashboard. */
export interface DashboardServer {
  port: number;
  /** "http://host:port/", openable from this machine. */
  url: string;
  /** Stops serving and cuts open connections (live event streams included). */
  close(): Promise<void>;
}

/** The page's files (services/gateway/dashboard/), the same two folders up from src/dashboard/ and dist/dashboard/. */
const ASSETS_DIR = new URL("../../dashboard/", import.meta.url);
const ASSETS: Record<string, { file: string; contentType: string }> = {
  "/": { file: "index.html", contentType: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", contentType: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", contentType: "text/css; charset=utf-8" },
};

/**
 * On every answer: only this origin's own files run or load (no inline script or style, no framing),
 * and no content type is second-guessed.
 */
const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** `/api/tasks/:id`, `/api/tasks/:id/events`, `/api/tasks/:id/artifacts/:name`. */
const TASK_ROUTE = /^\/api\/tasks\/([^/]+)(?:\/(events)|\/artifacts\/([^/]+))?$/;

/**
 * The dashboard: a page (task list, a task's iteration timeline, scores plot,
 * live log tail, downloads) and the JSON API it reads, over plain HTTP. The
 * API is the gateway's own TaskService called in process, so a token, a
 * tenant's scope and a request's validation are exactly the gRPC API's:
 *
 * - `GET /api/tasks?state=&page_size=&page_token=`: List
 * - `GET /api/tasks/:id`: Get
 * - `GET /api/tasks/:id/events?after=SEQ`: Watch, as Server-Sent Events
 * - `GET /api/tasks/:id/artifacts/:name[?iteration=N&stream=stdout|stderr]`: GetArtifact, as a download
 *
 * Errors are JSON `{"error": {"code", "message"}}`: 400, 401, 404, 409, 429
 * from the call's status, 500 with nothing more for anything else; 404 for
 * an unknown path, 405 for a method other than GET.
 */
export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const { tasks, logger } = options;
  const assets = await loadAssets();
  const serve = (request: IncomingMessage, response: ServerResponse) => {
    const started = performance.now();
    const path = (request.url ?? "/").split("?")[0];
    // The path only: a query may carry a page token, and no header is ever logged.
    response.once("close", () =>
      logger.debug({ method: request.method, path, status: response.statusCode, ms: Math.round(performance.now() - started) }, "dashboard"),
    );
    handle(request, response).catch((error: unknown) => {
      if (response.headersSent) response.destroy();
      else {
        const { status, body } = errorAnswer(error, logger);
        sendJson(response, status, body);
      }
    });
  };
  const { server, stopWatching } = options.identity
    ? httpsServer(options.identity, serve)
    : { server: createServer(serve), stopWatching() {} };

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
    if (request.method !== "GET") {
      response.setHeader("allow", "GET");
      sendJson(response, 405, errorBody("METHOD_NOT_ALLOWED", `${request.method} is not served here: only GET`));
      return;
    }
    const url = new URL(request.url ?? "/", "http://dashboard.invalid");
    const asset = assets.get(url.pathname);
    if (asset) {
      response.writeHead(200, { "content-type": asset.contentType, "cache-control": "no-cache" }).end(asset.body);
      return;
    }
    // Aborted when the client goes away: a Watch or a download stops with it.
    const aborted = new AbortController();
    response.once("close", () => aborted.abort());
    const authorization = request.headers.authorization;
    const call: ApiCall = {
      tasks,
      options: { metadata: authorization ? { authorization } : {}, signal: aborted.signal },
      query: url.searchParams,
      response,
      logger,
    };
    if (url.pathname === "/api/tasks") return listTasks(call);
    const route = TASK_ROUTE.exec(url.pathname);
    if (!route) {
      sendJson(response, 404, errorBody("NOT_FOUND", `no page or API at ${url.pathname}`));
      return;
    }
    const [, taskId, events, artifact] = route.map((part) => (part === undefined ? undefined : decoded(part)));
    if (events) return streamTaskEvents(call, taskId!);
    if (artifact) return downloadArtifact(call, taskId!, artifact);
    return getTask(call, taskId!);
  }

  let listener;
  try {
    listener = await listenHttp(server, options.host, options.port);
  } catch (error) {
    stopWatching();
    throw new Error(`cannot serve the dashboard on ${options.host}:${options.port}: ${(error as Error).message}`);
  }
  return {
    port: listener.port,
    url: `${listener.origin}/`,
    close: async () => {
      stopWatching();
      await listener.close();
    },
  };
}

/** An HTTPS server on `identity`, which sets its certificate at once and again whenever it is rotated. */
function httpsServer(
  identity: ReloadingCertificateFiles,
  serve: (request: IncomingMessage, response: ServerResponse) => void,
): { server: HttpsServer; stopWatching: () => void } {
  const server = createHttpsServer(serve);
  const onIdentity = (update: { certificate: Buffer; privateKey: Buffer } | null) => {
    if (update) server.setSecureContext({ cert: update.certificate, key: update.privateKey });
  };
  identity.addIdentityCertificateListener(onIdentity);
  return { server, stopWatching: () => identity.removeIdentityCertificateListener(onIdentity) };
}

/** The page's files, read once: a gateway whose build lacks them says so at start. */
async function loadAssets(): Promise<Map<string, { body: Buffer; contentType: string }>> {
  const assets = new Map<string, { body: Buffer; contentType: string }>();
  for (const [path, { file, contentType }] of Object.entries(ASSETS)) {
    const location = new URL(file, ASSETS_DIR);
    try {
      assets.set(path, { body: await readFile(location), contentType });
    } catch (error) {
      throw new Error(`the dashboard's page is missing: ${location.pathname} (${(error as Error).message})`);
    }
  }
  return assets;
}

/** A path segment, percent-decoded; malformed encoding is a bad request. */
function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new InvalidInputError(`the path segment ${JSON.stringify(segment)} is not valid percent-encoding`);
  }
}
