import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createInProcessBus, newEnvelope, type EventBus, type EventMessage, type EventName } from "@mlzero/bus";
import { createSilentLogger } from "@mlzero/logging";
import {
  ExecutionFinishedSchema,
  TaskContextSchema,
  Verdict,
  type ExecutionFinished,
  type IterationAnalyzed,
  type TaskFinished,
} from "@mlzero/proto";
import type { TaskWorkspace } from "@mlzero/workspace";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { VERDICT_FILE, createAnalyzerModule } from "./analyzer-module.js";
import { titanicContext, titanicWorkspace, writeIteration } from "./test-fixtures.js";

const logger = createSilentLogger();
let root: string;
let workspace: TaskWorkspace;
let iterationDir: string;

beforeEach(async () => {
  // Two passengers: the runs below predict 892 and 893.
  ({ root, workspace } = await titanicWorkspace("analyzer-module-", "PassengerId,Pclass\n892,3\n893,3\n"));
  iterationDir = workspace.iterationDir(1);
});

afterEach(async () => rm(root, { recursive: true, force: true }));

function executionFinished(exitCode: number): ExecutionFinished {
  return create(ExecutionFinishedSchema, {
    envelope: newEnvelope({ taskId: "titanic", tenant: "acme", iteration: 1 }),
    task: create(TaskContextSchema, {
      deadline: timestampFromMs(Date.now() + 600_000),
      spec: { budget: { maxIterations: 5 } },
      perception: { ...titanicContext(), tools: [{ name: "lightgbm" }, { name: "xgboost" }] },
    }),
    program: { candidateId: "iter-001-lightgbm", tool: "lightgbm", code: "print(1)" },
    result: {
      candidateId: "iter-001-lightgbm",
      exitCode,
      iterationDir: "iter-001",
      outputFiles: exitCode === 0 ? ["submission.csv"] : [],
      duration: durationFromMs(2_000),
    },
  });
}

async function writeRun(success: boolean): Promise<void> {
  await writeIteration(
    workspace,
    success
      ? { predictions: "PassengerId,Survived\n892,0\n893,1\n", stdout: 'MLZERO_RESULT {"metric": "accuracy", "score": 0.8}\n' }
      : { stderr: 'Traceback (most recent call last):\n  File "main.py", line 3, in <module>\nValueError: boom\n' },
  );
}

/** An analyzer on its own bus, with what it published. */
async function startAnalyzer(bus: EventBus = createInProcessBus({ logger, retryBackoffMs: 1 })) {
  const module = createAnalyzerModule({ bus, logger, workspaceRoot: root, defaultMaxIterations: 5 });
  const analyzed: IterationAnalyzed[] = [];
  const finished: TaskFinished[] = [];
  await bus.subscribe(module.pipeline!);
  await bus.subscribe({
    group: "observer",
    handlers: {
      IterationAnalyzed: async (event) => void analyzed.push(event),
      TaskFinished: async (event) => void finished.push(event),
    },
  });
  return { bus, module, analyzed, finished };
}

const idle = (bus: EventBus) => (bus as ReturnType<typeof createInProcessBus>).whenIdle();

describe("analyzer module under redelivery", () => {
  it("judges the same ExecutionFinished once: one IterationAnalyzed and one TaskFinished", async () => {
    await writeRun(true);
    const analyzer = await startAnalyzer();
    const event = executionFinished(0);
    await analyzer.bus.publish("ExecutionFinished", event);
    await analyzer.bus.publish("ExecutionFinished", event);
    await idle(analyzer.bus);
    expect(analyzer.analyzed).toHaveLength(1);
    expect(analyzer.analyzed[0]!.analysis?.verdict).toBe(Verdict.SUCCESS);
    expect(analyzer.finished).toHaveLength(1);

    // A restarted analyzer that gets it again (the executor re-reported after a crash) publishes nothing.
    const restarted = await startAnalyzer();
    await restarted.bus.publish("ExecutionFinished", event);
    await idle(restarted.bus);
    expect(restarted.analyzed).toHaveLength(0);
    expect(restarted.finished).toHaveLength(0);
    await Promise.all([analyzer.bus.close(), restarted.bus.close()]);
  });

  it("re-publishes its recorded verdict, not a new judgment, when it died before publishing it", async () => {
    await writeRun(false);
    const event = executionFinished(1);
    // The first analyzer's bus dies before anything it publishes is durable.
    const attempted: EventMessage<EventName>[] = [];
    const dying: EventBus = {
      ...createInProcessBus({ logger }),
      publish: async (_name, message) => {
        attempted.push(message);
        throw new Error("the process died");
      },
    };
    const first = createAnalyzerModule({ bus: dying, logger, workspaceRoot: root, defaultMaxIterations: 5 });
    await expect(first.pipeline!.handlers.ExecutionFinished!(event, { topic: "t", partition: 0, offset: 0, attempt: 1 })).rejects.toThrow(
      "the process died",
    );
    expect(JSON.parse(await readFile(path.join(iterationDir, VERDICT_FILE), "utf8"))).toMatchObject({ published: false });
    // The run's logs change afterwards: a new judgment would now differ.
    await writeRun(true);

    const restarted = await startAnalyzer();
    await restarted.bus.publish("ExecutionFinished", event);
    await idle(restarted.bus);
    expect(restarted.analyzed).toHaveLength(1);
    expect(restarted.analyzed[0]!.envelope?.eventId).toBe((attempted[0] as IterationAnalyzed).envelope?.eventId);
    expect(restarted.analyzed[0]!.analysis?.verdict).toBe(Verdict.FIX);
    expect(restarted.finished).toHaveLength(0);
    expect(JSON.parse(await readFile(path.join(iterationDir, VERDICT_FILE), "utf8"))).toMatchObject({ published: true });
    await restarted.bus.close();
  });
});
