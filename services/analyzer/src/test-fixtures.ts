import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { AnalyzeRequestSchema, ProblemType } from "@mlzero/proto";
import { taskWorkspace, type TaskWorkspace } from "@mlzero/workspace";

/**
 * The task the analyzer's tests review runs of (imported by tests only):
 * acme's titanic, a binary Survived scored by accuracy, its predictions
 * submission.csv with PassengerId and Survived.
 */

/** The test table: three passengers, 892 to 894. */
export const TITANIC_TEST_CSV = "PassengerId,Pclass,Sex\n892,3,male\n893,3,female\n894,2,male\n";

/** Perception's context of the task, its tools ranked autogluon, lightgbm (a fresh copy each call). */
export function titanicContext() {
  return {
    trainFile: "train.csv",
    testFile: "test.csv",
    labelColumn: "Survived",
    idColumn: "PassengerId",
    problemType: ProblemType.BINARY,
    metric: { name: "accuracy", greaterIsBetter: true },
    labelValues: ["0", "1"],
    tools: [{ name: "autogluon" }, { name: "lightgbm" }],
    files: [{ path: "test.csv", format: "csv" }],
    output: { fileName: "submission.csv", columns: ["PassengerId", "Survived"], idColumn: "PassengerId" },
  };
}

/** The task's workspace under a new temporary root (`prefix`), with input/test.csv written. */
export async function titanicWorkspace(prefix: string, testCsv = TITANIC_TEST_CSV): Promise<{ root: string; workspace: TaskWorkspace }> {
  const root = await mkdtemp(path.join(tmpdir(), prefix));
  const workspace = taskWorkspace(root, "acme", "titanic");
  await mkdir(workspace.inputDir, { recursive: true });
  await writeFile(path.join(workspace.inputDir, "test.csv"), testCsv);
  return { root, workspace };
}

export type AnalyzeRequestInit = Omit<MessageInitShape<typeof AnalyzeRequestSchema>, "$typeName">;

/** Iteration 1: autogluon ran for 5 s, exited 0 and wrote submission.csv; `overrides` replace whole fields. */
export function analyzeRequest(overrides: AnalyzeRequestInit = {}) {
  return create(AnalyzeRequestSchema, {
    taskId: "titanic",
    tenant: "acme",
    iteration: 1,
    context: titanicContext(),
    program: { candidateId: "iter-001-autogluon", tool: "autogluon", code: "import pandas as pd\nprint(1)\n" },
    result: { exitCode: 0, iterationDir: "iter-001", outputFiles: ["submission.csv"], duration: durationFromMs(5_000) },
    ...overrides,
  });
}

/** An iteration's folder as the executor leaves it: stdout.log, stderr.log and, when given, outputs/submission.csv. */
export async function writeIteration(
  workspace: TaskWorkspace,
  files: { predictions?: string; stdout?: string; stderr?: string },
  iteration = 1,
): Promise<void> {
  const dir = workspace.iterationDir(iteration);
  await mkdir(path.join(dir, "outputs"), { recursive: true });
  if (files.predictions !== undefined) await writeFile(path.join(dir, "outputs/submission.csv"), files.predictions);
  await writeFile(path.join(dir, "stdout.log"), files.stdout ?? "");
  await writeFile(path.join(dir, "stderr.log"), files.stderr ?? "");
}
