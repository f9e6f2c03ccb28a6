import { constants } from "node:fs";
import { open, realpath } from "node:fs/promises";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { FailedPreconditionError, InvalidInputError, NotFoundError } from "@mlzero/errors";
import { ITERATION_FILES } from "@mlzero/program";
import {
  ArtifactKind,
  GetArtifactResponseSchema,
  LogStream,
  TaskState,
  type GetArtifactRequest,
  type GetArtifactResponse,
  type Task,
} from "@mlzero/proto";
import { iterationName, resolveInside, type TaskWorkspace } from "@mlzero/workspace";
import { isTerminal } from "./task-board.js";
import { FINAL_PROGRAM_FILE } from "./write-task-output.js";

/** Largest chunk GetArtifact sends. */
export const ARTIFACT_CHUNK_BYTES = 64 * 1024;

/** Artifacts as clients name them (`mlzero fetch --artifact`, the dashboard's download routes). */
export const ARTIFACT_NAMES: ReadonlyMap<string, ArtifactKind> = new Map([
  ["predictions", ArtifactKind.PREDICTIONS],
  ["program", ArtifactKind.PROGRAM],
  ["report", ArtifactKind.REPORT_JSON],
  ["report-md", ArtifactKind.REPORT_MD],
  ["logs", ArtifactKind.LOGS],
]);

/** An iteration's log streams as clients name them. */
export const LOG_STREAM_NAMES: ReadonlyMap<string, LogStream> = new Map([
  ["stdout", LogStream.STDOUT],
  ["stderr", LogStream.STDERR],
]);

/** One file GetArtifact may send: where it is, what it is called, and the folder it must stay in. */
export interface ArtifactFile {
  /** Folder the file must be inside, symbolic links resolved. */
  base: string;
  /** The file's path relative to `base`. */
  relative: string;
  /** What the client is told it is called. */
  fileName: string;
  /** What a NOT_FOUND says is missing, e.g. "task t1 has no predictions". */
  missing: string;
}

const KIND_NAMES: Partial<Record<ArtifactKind, string>> = {
  [ArtifactKind.PREDICTIONS]: "predictions",
  [ArtifactKind.PROGRAM]: "program",
  [ArtifactKind.REPORT_JSON]: "report.json",
  [ArtifactKind.REPORT_MD]: "report.md",
  [ArtifactKind.LOGS]: "logs",
};

const STREAM_FILES: Partial<Record<LogStream, { file: string; name: string }>> = {
  [LogStream.UNSPECIFIED]: { file: ITERATION_FILES.stdout, name: "stdout" },
  [LogStream.STDOUT]: { file: ITERATION_FILES.stdout, name: "stdout" },
  [LogStream.STDERR]: { file: ITERATION_FILES.stderr, name: "stderr" },
};

/**
 * The file a GetArtifact asks for, of a task the caller may see: a final
 * artifact of a finished task's output folder (FAILED_PRECONDITION before it
 * finishes), or an iteration's log (from the output folder once finished,
 * from the iteration's folder while it runs). INVALID_ARGUMENT for a request
 * that names no valid artifact, stream or iteration.
 */
export function artifactFile(task: Task, workspace: TaskWorkspace, request: GetArtifactRequest): ArtifactFile {
  const kind = KIND_NAMES[request.artifact];
  if (!kind || request.artifact === ArtifactKind.UNSPECIFIED) {
    throw new InvalidInputError(`artifact must be one of predictions, program, report_json, report_md, logs; got ${request.artifact}`);
  }
  const finished = isTerminal(task.state);
  const stateName = (TaskState[task.state] ?? String(task.state)).toLowerCase();
  if (request.artifact === ArtifactKind.LOGS) {
    const stream = STREAM_FILES[request.logStream];
    if (!stream) throw new InvalidInputError(`log_stream must be stdout or stderr, got ${request.logStream}`);
    if (request.iteration < 1) throw new InvalidInputError("iteration is required for logs: 1 or more");
    const folder = iterationName(request.iteration);
    const missing = `task ${task.taskId} has no ${stream.name} log for iteration ${request.iteration}`;
    return finished
      ? { base: workspace.outputDir, relative: path.join("iterations", folder, stream.file), fileName: stream.file, missing }
      : { base: workspace.taskDir, relative: path.join(folder, stream.file), fileName: stream.file, missing };
  }
  if (request.iteration !== 0 || request.logStream !== LogStream.UNSPECIFIED) {
    throw new InvalidInputError("iteration and log_stream are only for logs");
  }
  if (!finished) {
    throw new FailedPreconditionError(
      `task ${task.taskId} is ${TaskState[task.state]}: its ${kind} ${kind === "predictions" ? "exist" : "exists"} once it finishes`,
    );
  }
  const outcome = task.message ? `${stateName}: ${task.message}` : stateName;
  switch (request.artifact) {
    case ArtifactKind.PREDICTIONS:
      if (!task.predictionsFile) throw new NotFoundError(`task ${task.taskId} has no predictions (it ${outcome})`);
      return {
        base: workspace.outputDir,
        relative: task.predictionsFile,
        fileName: path.basename(task.predictionsFile),
        missing: `task ${task.taskId} has no predictions file ${task.predictionsFile}`,
      };
    case ArtifactKind.PROGRAM:
      return {
        base: workspace.outputDir,
        relative: FINAL_PROGRAM_FILE,
        fileName: FINAL_PROGRAM_FILE,
        missing: `task ${task.taskId} has no program (it ${outcome})`,
      };
    default:
      return { base: workspace.outputDir, relative: kind, fileName: kind, missing: `task ${task.taskId} has no ${kind}` };
  }
}

/**
 * Streams `file` from disk in chunks of at most {@link ARTIFACT_CHUNK_BYTES},
 * as big as it was when opened; the first chunk carries its name, size and
 * content type. Reads a chunk only when the previous one was taken (the
 * server writes the next message after the transport drained), so a large
 * file never sits in memory. A path that leaves `file.base` (`..`, or a
 * symbolic link pointing out) is NOT_FOUND, as is anything but a regular file.
 */
export async function* streamArtifact(file: ArtifactFile, signal?: AbortSignal): AsyncGenerator<GetArtifactResponse> {
  const resolved = await insideBase(file);
  let handle;
  try {
    // O_NOFOLLOW: a link swapped in after the check is refused, not followed.
    handle = await open(resolved, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    throw missingOr(error, file);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new NotFoundError(file.missing);
    const size = stats.size;
    const first = { fileName: file.fileName, totalSize: BigInt(size), contentType: contentTypeOf(file.fileName) };
    if (size === 0) {
      yield create(GetArtifactResponseSchema, { data: new Uint8Array(0), ...first });
      return;
    }
    const stream = handle.createReadStream({ start: 0, end: size - 1, highWaterMark: ARTIFACT_CHUNK_BYTES, autoClose: false });
    let sent = false;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (signal?.aborted) return;
        for (let offset = 0; offset < chunk.length; offset += ARTIFACT_CHUNK_BYTES) {
          const data = chunk.subarray(offset, offset + ARTIFACT_CHUNK_BYTES);
          yield create(GetArtifactResponseSchema, sent ? { data } : { data, ...first });
          sent = true;
        }
      }
    } finally {
      stream.destroy();
    }
  } finally {
    await handle.close();
  }
}

/** The file's real path, checked to be inside its base folder (symbolic links resolved). */
async function insideBase(file: ArtifactFile): Promise<string> {
  const candidate = resolveInside(file.base, file.relative); // refuses `..` and absolute names
  let base: string;
  let real: string;
  try {
    base = await realpath(file.base);
    real = await realpath(candidate);
  } catch (error) {
    throw missingOr(error, file);
  }
  if (real !== base && !real.startsWith(base + path.sep)) throw new NotFoundError(file.missing);
  return real;
}

function missingOr(error: unknown, file: ArtifactFile): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP" ? new NotFoundError(file.missing) : error;
}

const CONTENT_TYPES: Record<string, string> = {
  ".csv": "text/csv",
  ".tsv": "text/tab-separated-values",
  ".json": "application/json",
  ".jsonl": "application/x-ndjson",
  ".md": "text/markdown",
  ".py": "text/x-python",
  ".log": "text/plain",
  ".txt": "text/plain",
  ".parquet": "application/vnd.apache.parquet",
};

/** The content type a file name suggests; application/octet-stream when it suggests none. */
export function contentTypeOf(fileName: string): string {
  return CONTENT_TYPES[path.extname(fileName).toLowerCase()] ?? "application/octet-stream";
}
