import { once } from "node:events";
import type { ServerResponse } from "node:http";
import { toJson } from "@bufbuild/protobuf";
import { InvalidInputError, NotFoundError, describeError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import {
  GetResponseSchema,
  ListResponseSchema,
  LogStream,
  TaskService,
  TaskState,
  WatchResponseSchema,
  type GetArtifactResponse,
} from "@mlzero/proto";
import { GrpcStatus, toServiceError, type CallOptions, type ServiceClient } from "@mlzero/rpc";
import { ARTIFACT_NAMES, LOG_STREAM_NAMES } from "../task-artifacts.js";
import { TASK_STATE_NAMES, taskStateNamed } from "../task-state-names.js";

/** The gateway's TaskService as the dashboard calls it: in process, through the same handlers as gRPC. */
export type DashboardTasks = ServiceClient<typeof TaskService>;

/** One API request: whom to ask, as whom, with what query, and where the answer goes. */
export interface ApiCall {
  tasks: DashboardTasks;
  /** The HTTP request's Authorization header as call metadata, so authentication and tenant scoping are the gRPC API's own. */
  options: Required<Pick<CallOptions, "metadata" | "signal">>;
  query: URLSearchParams;
  response: ServerResponse;
  logger: Logger;
}

/** HTTP statuses of the gRPC codes a caller can act on; any other failure is a 500 that says nothing more. */
const HTTP_STATUS: Partial<Record<GrpcStatus, number>> = {
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.UNAUTHENTICATED]: 401,
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.FAILED_PRECONDITION]: 409,
  [GrpcStatus.RESOURCE_EXHAUSTED]: 429,
};

/** The JSON body of an error: `{"error": {"code": "NOT_FOUND", "message": "task t1 not found"}}`. */
export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

/**
 * What a failed call answers: the status code of the gRPC API's own mapping
 * (toServiceError), as HTTP. A failure that is no domain error is logged
 * there and answered 500 "internal error", without its details.
 */
export function errorAnswer(error: unknown, logger: Logger): { status: number; body: ReturnType<typeof errorBody> } {
  const { code, details } = toServiceError(error, logger);
  const status = HTTP_STATUS[code];
  return status ? { status, body: errorBody(GrpcStatus[code]!, details) } : { status: 500, body: errorBody("INTERNAL", "internal error") };
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" }).end(JSON.stringify(body));
}

/** `GET /api/tasks?state=&page_size=&page_token=`: one page of the caller's tasks (List), newest first. */
export async function listTasks(call: ApiCall): Promise<void> {
  const page = await call.tasks.list(
    {
      state: stateParam(call.query),
      pageSize: wholeNumberParam(call.query, "page_size", 0, 0xffffffff) ?? 0,
      pageToken: call.query.get("page_token") ?? "",
    },
    call.options,
  );
  sendJson(call.response, 200, toJson(ListResponseSchema, page));
}

/** `GET /api/tasks/:id`: the task (Get). */
export async function getTask(call: ApiCall, taskId: string): Promise<void> {
  sendJson(call.response, 200, toJson(GetResponseSchema, await call.tasks.get({ taskId }, call.options)));
}

/**
 * `GET /api/tasks/:id/events?after=SEQ`: the task's Watch updates as
 * Server-Sent Events (`event: update`, `id:` its sequence, `data:` the
 * WatchResponse as JSON, heartbeats included), then `event: end` once the
 * task finished, or `event: error` with the error body if the stream fails.
 * Read with fetch rather than EventSource, which cannot send Authorization.
 */
export async function streamTaskEvents(call: ApiCall, taskId: string): Promise<void> {
  const after = sequenceParam(call.query, "after");
  // Get first: a refused token, a missing task or another tenant's is an HTTP status, not an event.
  await call.tasks.get({ taskId }, call.options);
  const { response, options } = call;
  response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store" });
  // Now, not with the first update: the client knows the stream is open even while the task is quiet.
  response.flushHeaders();
  try {
    for await (const update of call.tasks.watch({ taskId, afterSequence: after }, options)) {
      const data = JSON.stringify(toJson(WatchResponseSchema, update));
      await write(response, `id: ${update.sequence}\nevent: update\ndata: ${data}\n\n`, options.signal);
    }
    if (!options.signal.aborted) response.end("event: end\ndata: {}\n\n");
  } catch (error) {
    if (options.signal.aborted) return; // the client left
    const { body } = errorAnswer(error, call.logger);
    response.end(`event: error\ndata: ${JSON.stringify(body)}\n\n`);
  }
}

/**
 * `GET /api/tasks/:id/artifacts/:name[?iteration=N&stream=stdout|stderr]`:
 * one file of the task (GetArtifact: predictions, program, report,
 * report-md, logs), streamed to the response as a download as fast as the
 * client takes it. A refusal comes before any byte, as its HTTP status; a
 * failure midway cuts the response, so no partial file looks whole.
 */
export async function downloadArtifact(call: ApiCall, taskId: string, name: string): Promise<void> {
  const artifact = ARTIFACT_NAMES.get(name);
  if (artifact === undefined)
    throw new NotFoundError(`no artifact ${JSON.stringify(name)}: one of ${[...ARTIFACT_NAMES.keys()].join(", ")}`);
  const streamName = call.query.get("stream");
  const logStream = streamName === null ? LogStream.UNSPECIFIED : LOG_STREAM_NAMES.get(streamName);
  if (logStream === undefined) throw new InvalidInputError(`stream must be stdout or stderr, got ${JSON.stringify(streamName)}`);
  const iteration = wholeNumberParam(call.query, "iteration", 1, 0xffffffff) ?? 0;
  const { response, options } = call;
  const chunks = call.tasks.getArtifact({ taskId, artifact, iteration, logStream }, options)[Symbol.asyncIterator]();
  try {
    const first = await chunks.next();
    if (first.done) throw new Error(`GetArtifact of task ${taskId} sent nothing`);
    const { fileName, totalSize, contentType } = first.value;
    response.writeHead(200, {
      "content-type": contentType || "application/octet-stream",
      "content-length": String(totalSize),
      "content-disposition": attachment(fileName),
      "cache-control": "no-store",
    });
    try {
      for (let next: IteratorResult<GetArtifactResponse> = first; !next.done; next = await chunks.next())
        await write(response, next.value.data, options.signal);
      response.end();
    } catch (error) {
      response.destroy();
      if (!options.signal.aborted) call.logger.warn({ taskId, artifact: name, err: describeError(error) }, "artifact download cut");
    }
  } finally {
    await chunks.return?.();
  }
}

/** Writes, then waits while the client is behind (or until it leaves). */
async function write(response: ServerResponse, data: string | Uint8Array, signal: AbortSignal): Promise<void> {
  if (!response.write(data)) await once(response, "drain", { signal });
}

/** A download header whose file name is safe in any browser: letters, digits, `.`, `_`, `-`. */
function attachment(fileName: string): string {
  return `attachment; filename="${fileName.replace(/[^A-Za-z0-9._-]/g, "_") || "download"}"`;
}

/** `state=succeeded` (any case); none or empty: every state. */
function stateParam(query: URLSearchParams): TaskState {
  const name = query.get("state");
  if (!name) return TaskState.UNSPECIFIED;
  const state = taskStateNamed(name);
  if (state === undefined) throw new InvalidInputError(`state must be one of ${TASK_STATE_NAMES.join(", ")}, got ${JSON.stringify(name)}`);
  return state;
}

function wholeNumberParam(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const text = query.get(name);
  if (text === null) return undefined;
  if (!/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new InvalidInputError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** A Watch sequence number (0 when left out: from the start). */
function sequenceParam(query: URLSearchParams, name: string): bigint {
  const text = query.get(name);
  if (text === null) return 0n;
  if (!/^\d{1,19}$/.test(text) || BigInt(text) > 0xffffffffffffffffn) {
    throw new InvalidInputError(`${name} must be a sequence number (0 or more), got ${JSON.stringify(text)}`);
  }
  return BigInt(text);
}
