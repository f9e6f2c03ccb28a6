import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { InvalidInputError } from "@mlzero/errors";
import { ARTIFACT_NAMES, LOG_STREAM_NAMES } from "@mlzero/gateway";
import { ArtifactKind, LogStream } from "@mlzero/proto";
import type { CliCommand } from "./cli-command.js";
import { GATEWAY_FLAG, GATEWAY_USAGE, gatewayFrom, withGateway, type TaskClient } from "./gateway-client.js";
import { oneTaskId, parseCommandLine } from "./task-options.js";

/** What GetArtifact is asked. */
interface ArtifactRequest {
  taskId: string;
  artifact: ArtifactKind;
  iteration: number;
  logStream: LogStream;
}

const USAGE = `usage: mlzero fetch <task-id> [options]

Downloads one file of a task from the gateway, streamed in chunks: a
finished task's predictions, program or report, or an iteration's log (of a
running task too). Writes it to stdout, or to --out.

  --artifact NAME              predictions (default), program, report (report.json),
                               report-md (report.md) or logs
  --iteration N                for logs: the iteration (default: the task's latest)
  --stream stdout|stderr       for logs: which log (default stdout)
  --out FILE                   write to FILE (replaced whole once complete) instead of stdout
${GATEWAY_USAGE}`;

/** `mlzero fetch`: one artifact of a task, to stdout or a file. */
export const fetchCommand: CliCommand = {
  name: "fetch",
  synopsis: "<task-id> [--artifact NAME] [--out FILE]",
  summary: "download a task's predictions, program, report or logs",
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseCommandLine(args, {
      artifact: { type: "string" },
      iteration: { type: "string" },
      stream: { type: "string" },
      out: { type: "string" },
      ...GATEWAY_FLAG,
    });
    const taskId = oneTaskId("fetch", positionals);
    const request = requestFrom(taskId, values);
    const out = values.out?.trim();
    if (values.out !== undefined && !out) throw new InvalidInputError("--out needs a file name");
    const gateway = gatewayFrom(values, io.env);
    await withGateway(gateway, async (tasks) => {
      if (request.artifact === ArtifactKind.LOGS && request.iteration === 0) request.iteration = await latestIteration(tasks, taskId);
      if (!out) {
        await download(tasks, request, io.stdout);
        return;
      }
      // Written beside the target and renamed over it: a failed download leaves no half file.
      const partial = path.join(path.dirname(out), `.${path.basename(out)}.${randomBytes(4).toString("hex")}.part`);
      const file = createWriteStream(partial);
      try {
        const size = await download(tasks, request, file);
        file.end();
        await once(file, "close");
        await rename(partial, out);
        io.stderr.write(`${out}: ${size} bytes\n`);
      } catch (error) {
        file.destroy();
        await rm(partial, { force: true });
        throw error;
      }
    });
    return 0;
  },
};

/** The GetArtifact request the flags ask for; iteration 0 for logs means "the latest". */
function requestFrom(taskId: string, values: { artifact?: string; iteration?: string; stream?: string }): ArtifactRequest {
  const name = values.artifact?.trim() ?? "predictions";
  const artifact = ARTIFACT_NAMES.get(name);
  if (artifact === undefined) {
    throw new InvalidInputError(
      `--artifact must be one of ${[...ARTIFACT_NAMES.keys()].join(", ")}, got ${JSON.stringify(values.artifact)}`,
    );
  }
  const logs = artifact === ArtifactKind.LOGS;
  if (!logs && (values.iteration !== undefined || values.stream !== undefined)) {
    throw new InvalidInputError("--iteration and --stream are only for --artifact logs");
  }
  let iteration = 0;
  if (values.iteration !== undefined) {
    if (!/^\d+$/.test(values.iteration.trim()) || Number(values.iteration) < 1 || Number(values.iteration) > 0xffffffff) {
      throw new InvalidInputError(`--iteration must be an iteration number (1 or more), got ${JSON.stringify(values.iteration)}`);
    }
    iteration = Number(values.iteration);
  }
  const streamName = values.stream?.trim() ?? "stdout";
  const logStream = LOG_STREAM_NAMES.get(streamName);
  if (logStream === undefined) throw new InvalidInputError(`--stream must be stdout or stderr, got ${JSON.stringify(values.stream)}`);
  return { taskId, artifact, iteration, logStream: logs ? logStream : LogStream.UNSPECIFIED };
}

/** The task's latest iteration, for logs without --iteration. */
async function latestIteration(tasks: TaskClient, taskId: string): Promise<number> {
  const { task } = await tasks.get({ taskId });
  if (!task) throw new Error("the gateway answered Get without a task");
  if (task.iteration < 1) throw new InvalidInputError(`task ${taskId} has not run a program yet: it has no logs`);
  return task.iteration;
}

/** Streams the artifact into `sink`, waiting for it to drain; answers the bytes written, checked against the size announced. */
async function download(tasks: TaskClient, request: ArtifactRequest, sink: NodeJS.WritableStream): Promise<number> {
  let expected: bigint | undefined;
  let received = 0;
  for await (const chunk of tasks.getArtifact(request)) {
    expected ??= chunk.totalSize;
    received += chunk.data.length;
    if (chunk.data.length > 0 && !sink.write(chunk.data)) await once(sink, "drain");
  }
  if (expected === undefined) throw new Error("the gateway ended GetArtifact without sending anything");
  if (BigInt(received) !== expected) throw new Error(`the gateway sent ${received} of ${expected} bytes`);
  return received;
}
