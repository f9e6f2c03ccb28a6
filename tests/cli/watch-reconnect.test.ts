import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { createSilentLogger } from "@mlzero/logging";
import { TaskSchema, TaskService, TaskState, WatchResponseSchema, type Task } from "@mlzero/proto";
import { serve, startGrpcServer, type RunningGrpcServer } from "@mlzero/rpc";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../support/run-cli.js";
import { describeRun, freePort } from "./cli-helpers.js";

// A gateway that restarts while a client watches (a crash, a rolling
// update): the CLI reconnects and resumes after the last sequence it saw.
// The gateway here is scripted, so the moment it dies is exact.

const servers: RunningGrpcServer[] = [];

afterAll(async () => {
  for (const server of servers) await server.stop(0);
});

type TaskFields = Pick<
  MessageInitShape<typeof TaskSchema>,
  "iteration" | "tool" | "metric" | "bestScore" | "outputDir" | "predictionsFile"
>;

function task(state: TaskState, sequence: bigint, extra: TaskFields = {}): Task {
  return create(TaskSchema, { taskId: "t-restart", state, sequence, createdAt: timestampNow(), message: TaskState[state], ...extra });
}

/** A scripted gateway on `port`: Get answers `current`; Watch sends `updates` after the asked sequence, then ends or hangs. */
async function scriptedGateway(port: number, current: Task, updates: Task[], hang: boolean) {
  const asked: bigint[] = [];
  let sent!: () => void;
  const allSent = new Promise<void>((resolve) => (sent = resolve));
  const server = await startGrpcServer({
    host: "127.0.0.1",
    port,
    logger: createSilentLogger(),
    services: [
      serve(TaskService, {
        submit: () => Promise.reject(new Error("not scripted")),
        cancel: () => Promise.reject(new Error("not scripted")),
        list: () => Promise.reject(new Error("not scripted")),
        async *getArtifact() {
          throw new Error("not scripted");
        },
        get: async () => ({ task: current }),
        async *watch(request, context) {
          asked.push(request.afterSequence);
          for (const update of updates.filter((item) => item.sequence > request.afterSequence)) {
            yield create(WatchResponseSchema, { sequence: update.sequence, time: timestampNow(), event: "Scripted", task: update });
          }
          sent();
          if (hang) await new Promise((resolve) => context.signal.addEventListener("abort", resolve, { once: true }));
        },
      }),
    ],
  });
  servers.push(server);
  return { server, asked, allSent };
}

describe("mlzero watch while the gateway restarts", () => {
  it("reconnects and resumes after the last sequence it saw", async () => {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const running = [task(TaskState.PERCEIVING, 1n), task(TaskState.EXECUTING, 2n, { iteration: 1, tool: "sklearn" })];
    const first = await scriptedGateway(port, running[1]!, running, true);

    const watching = runCli(["watch", "t-restart", "--gateway", address], { timeoutMs: 60_000 });
    await first.allSent;
    // Let the two updates reach the client before the gateway goes away mid-stream.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await first.server.stop(0);
    await new Promise((resolve) => setTimeout(resolve, 500));

    const done = task(TaskState.SUCCEEDED, 3n, {
      iteration: 1,
      tool: "sklearn",
      metric: "accuracy",
      bestScore: 0.9,
      outputDir: "/tmp/t-restart/output",
      predictionsFile: "predictions.csv",
    });
    const second = await scriptedGateway(port, done, [...running, done], false);
    const result = await watching;

    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stderr).toMatch(`lost the gateway at ${address}; reconnecting`);
    expect(result.stderr).toMatch(`reconnected to the gateway at ${address}`);
    expect(result.stdout).toMatch(/^succeeded with sklearn in 0 iteration\(s\), validation accuracy 0\.9000$/m);
    expect(result.stdout).toMatch(/^predictions: \/tmp\/t-restart\/output\/predictions\.csv$/m);
    // The second life was asked only for what the client had not seen.
    expect(first.asked).toEqual([0n]);
    expect(second.asked.at(-1)).toBe(2n);
    // Each stage was shown once: nothing replayed twice.
    expect(result.stderr.match(/\] executing/g)).toHaveLength(1);
  }, 60_000);
});
