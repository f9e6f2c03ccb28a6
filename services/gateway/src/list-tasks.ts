import { createHash } from "node:crypto";
import { InvalidInputError } from "@mlzero/errors";
import { TaskState, type ListRequest, type Task } from "@mlzero/proto";
import type { Timestamp } from "@bufbuild/protobuf/wkt";

/** Tasks per page when the request leaves it at 0. */
export const DEFAULT_PAGE_SIZE = 50;
/** Most tasks per page. */
export const MAX_PAGE_SIZE = 500;

/** Seconds of 0001-01-01 and 9999-12-31T23:59:59, the range a Timestamp may hold. */
const MIN_SECONDS = -62_135_596_800n;
const MAX_SECONDS = 253_402_300_799n;

/** Where a page ended: the last task's creation time and id; the next page starts after it. */
interface Cursor {
  /** Version of the token's layout. */
  v: 1;
  /** Fingerprint of the filters the token was issued for. */
  f: string;
  /** The last task's creation time: seconds (a decimal string) and nanos. */
  s: string;
  n: number;
  id: string;
}

/**
 * One page of a tenant's tasks for a List request: newest first (creation
 * time, then task id), filtered by state and creation time, after the page
 * token's cursor. The token is opaque to clients and names a position, not
 * an offset, so tasks submitted between two pages shift nothing; it is bound
 * to the request's filters. Malformed requests (an unknown state, a page
 * size over {@link MAX_PAGE_SIZE}, a time range that is empty or out of
 * range, a token this service did not issue or issued for other filters)
 * are InvalidInputError.
 */
export function listPage(tasks: Iterable<Task>, request: ListRequest, tenant: string): { tasks: Task[]; nextPageToken: string } {
  if (request.state !== TaskState.UNSPECIFIED && TaskState[request.state] === undefined) {
    throw new InvalidInputError(`state ${request.state} is not a task state`);
  }
  if (request.pageSize > MAX_PAGE_SIZE) {
    throw new InvalidInputError(
      `page_size must be at most ${MAX_PAGE_SIZE} (0 for the default, ${DEFAULT_PAGE_SIZE}), got ${request.pageSize}`,
    );
  }
  const after = request.createdAfter;
  const before = request.createdBefore;
  checkTimestamp(after, "created_after");
  checkTimestamp(before, "created_before");
  if (after && before && compareTime(after, before) >= 0) {
    throw new InvalidInputError("created_after must be earlier than created_before");
  }
  const fingerprint = filterFingerprint(tenant, request);
  const cursor = request.pageToken ? decodeCursor(request.pageToken, fingerprint) : undefined;
  const pageSize = request.pageSize || DEFAULT_PAGE_SIZE;

  const matching = [...tasks]
    .filter(
      (task) =>
        task.tenant === tenant &&
        (!request.state || task.state === request.state) &&
        (!after || compareTime(created(task), after) >= 0) &&
        (!before || compareTime(created(task), before) < 0),
    )
    .sort(newestFirst)
    .filter((task) => !cursor || newestFirst(task, cursorTask(cursor)) > 0);
  const page = matching.slice(0, pageSize);
  const last = page.at(-1);
  const nextPageToken = last && matching.length > pageSize ? encodeCursor(last, fingerprint) : "";
  return { tasks: page, nextPageToken };
}

function created(task: Task): Timestamp | undefined {
  return task.createdAt;
}

/** Newest first: later creation first, then the greater task id. */
function newestFirst(a: Pick<Task, "createdAt" | "taskId">, b: Pick<Task, "createdAt" | "taskId">): number {
  const byTime = compareTime(b.createdAt, a.createdAt);
  if (byTime !== 0) return byTime;
  return a.taskId < b.taskId ? 1 : a.taskId > b.taskId ? -1 : 0;
}

function compareTime(a: Timestamp | undefined, b: Timestamp | undefined): number {
  const seconds = (a?.seconds ?? 0n) - (b?.seconds ?? 0n);
  if (seconds !== 0n) return seconds < 0n ? -1 : 1;
  return Math.sign((a?.nanos ?? 0) - (b?.nanos ?? 0));
}

function checkTimestamp(time: Timestamp | undefined, name: string): void {
  if (!time) return;
  if (time.seconds < MIN_SECONDS || time.seconds > MAX_SECONDS || time.nanos < 0 || time.nanos > 999_999_999) {
    throw new InvalidInputError(`${name} is not a valid timestamp`);
  }
}

function filterFingerprint(tenant: string, request: ListRequest): string {
  const time = (value: Timestamp | undefined) => (value ? `${value.seconds}.${value.nanos}` : "");
  const filters = JSON.stringify([tenant, request.state, time(request.createdAfter), time(request.createdBefore)]);
  return createHash("sha256").update(filters).digest("base64url").slice(0, 16);
}

function cursorTask(cursor: Cursor): Pick<Task, "createdAt" | "taskId"> {
  return {
    createdAt: { $typeName: "google.protobuf.Timestamp", seconds: BigInt(cursor.s), nanos: cursor.n },
    taskId: cursor.id,
  };
}

function encodeCursor(task: Task, fingerprint: string): string {
  const cursor: Cursor = {
    v: 1,
    f: fingerprint,
    s: String(task.createdAt?.seconds ?? 0n),
    n: task.createdAt?.nanos ?? 0,
    id: task.taskId,
  };
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

function decodeCursor(token: string, fingerprint: string): Cursor {
  let cursor: Cursor;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new Error("not base64url");
    cursor = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as Cursor;
    if (
      cursor.v !== 1 ||
      typeof cursor.f !== "string" ||
      typeof cursor.s !== "string" ||
      !/^-?\d{1,20}$/.test(cursor.s) ||
      !Number.isInteger(cursor.n) ||
      typeof cursor.id !== "string"
    ) {
      throw new Error("not a cursor");
    }
  } catch {
    throw new InvalidInputError("page_token is not one this service issued: pass the next_page_token of the previous page, or none");
  }
  if (cursor.f !== fingerprint) {
    throw new InvalidInputError(
      "page_token was issued for other filters: keep state, created_after and created_before as on the first page",
    );
  }
  return cursor;
}
