import { readdir, readFile, mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { readRunRecord } from "@mlzero/executor";
import { ExecutionResultSchema, RoundPlannedSchema, TaskFinishedSchema } from "@mlzero/proto";
import { describe, expect, it } from "vitest";
import { generateChurnTask } from "../support/generate-tasks.js";
import { readReport, type Report } from "../support/read-predictions.js";
import { runCli } from "../support/run-cli.js";

// The three programs share the machine's cores (the embedded executor runs every program it is
// given at once: no MLZERO_EXECUTOR_CONCURRENCY there). AutoGluon fits for most of its run's time
// limit, so a 60 s limit keeps the round near a minute on 2 cores; a run that still times out is a
// failed node, and the best is taken among the others.
const RUN_TIMEOUT_MS = 240_000;

/** report.json with what this test reads beyond {@link Report}. */
type SearchReport = Omit<Report, "history"> & { reason: string; history: (Report["history"][number] & { score: number | null })[] };

const fixed = (ms: number) => (ms / 1000).toFixed(1);

/** One event the analyzer recorded in `search/round-NNN.json` (decision-record.ts), decoded. */
async function recordedEvent<T>(file: string, name: string, decode: (bytes: Uint8Array) => T): Promise<T> {
  const stored = JSON.parse(await readFile(file, "utf8")) as { events: { name: string; message: string }[]; published: boolean };
  expect(stored.published, file).toBe(true);
  expect(stored.events.map((event) => event.name)).toEqual([name]);
  return decode(Buffer.from(stored.events[0]!.message, "base64"));
}

describe("mlzero run --parallelism 3: a search round of three programs at once", () => {
  it(
    "runs perception's top three tools side by side and returns the one with the best validation score",
    async () => {
      const root = await mkdtemp(path.join(os.tmpdir(), "mlzero-parallel-"));
      const task = await generateChurnTask(root, 13, 800);
      const out = path.join(root, "out");
      const workspace = path.join(root, "workspace");
      const args = ["run", task.inputDir, "--out", out, "--workspace", workspace, "--parallelism", "3"];
      const result = await runCli([...args, "--time-limit", "300", "--iteration-time-limit", "60"], { timeoutMs: RUN_TIMEOUT_MS });
      const context = `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr.slice(-3000)}`;
      expect(result.code, context).toBe(0);
      const report = (await readReport(out)) as SearchReport;
      expect(report.status, context).toBe("succeeded");
      expect(report.metric).toBe("roc_auc"); // greater is better

      // The workspace of the one task: round 1 planned three new tools, and no second round followed.
      const [tenant] = await readdir(workspace);
      const [taskId] = await readdir(path.join(workspace, tenant!));
      const taskDir = path.join(workspace, tenant!, taskId!);
      expect((await readdir(taskDir)).filter((name) => /^iter-\d+$/.test(name)).sort()).toEqual(["iter-001", "iter-002", "iter-003"]);
      expect((await readdir(path.join(taskDir, "search"))).filter((name) => name.endsWith(".json")).sort()).toEqual([
        "round-000.json",
        "round-001.json",
      ]);
      const planned = await recordedEvent(path.join(taskDir, "search", "round-000.json"), "RoundPlanned", (bytes) =>
        fromBinary(RoundPlannedSchema, bytes),
      );
      expect(planned.round).toBe(1);
      expect(planned.candidates.map((candidate) => candidate.iteration)).toEqual([1, 2, 3]);
      const tools = planned.candidates.map((candidate) => candidate.fix?.tool);
      expect(new Set(tools).size).toBe(3);
      expect(report.history.map((entry) => entry.tool)).toEqual(tools);

      // The executor's run records (run.json): each run from its launch for as long as the executor
      // measured it. All three were running at one moment: the last launch came before the first end.
      const intervals = await Promise.all(
        [1, 2, 3].map(async (iteration) => {
          const dir = path.join(taskDir, `iter-00${iteration}`);
          const record = await readRunRecord(dir);
          expect(record?.state, dir).toBe("reported");
          const run = fromBinary(ExecutionResultSchema, Buffer.from(record!.result!, "base64"));
          return { iteration, start: record!.launchedAtMs, end: record!.launchedAtMs + durationMs(run.duration!) };
        }),
      );
      const lastStart = Math.max(...intervals.map((run) => run.start));
      const firstEnd = Math.min(...intervals.map((run) => run.end));
      const origin = Math.min(...intervals.map((run) => run.start));
      const spans = intervals.map((run) => `${run.iteration}: ${fixed(run.start - origin)}..${fixed(run.end - origin)} s`);
      expect(lastStart, spans.join(", ")).toBeLessThan(firstEnd);
      console.info(
        `parallel round: ${(result.wallMs / 1000).toFixed(1)} s; runs ${spans.join(", ")}; ` +
          `all three running for ${fixed(firstEnd - lastStart)} s`,
      );

      // The best is the successful run with the highest validation score (ties to the earlier).
      const successes = report.history.filter((entry) => entry.verdict === "SUCCESS" && entry.score !== null);
      expect(successes.length, JSON.stringify(report.history)).toBeGreaterThan(0);
      const expected = successes.reduce((best, entry) => (entry.score! > best.score! ? entry : best));
      const finished = await recordedEvent(path.join(taskDir, "search", "round-001.json"), "TaskFinished", (bytes) =>
        fromBinary(TaskFinishedSchema, bytes),
      );
      expect(finished.bestIteration).toBe(expected.iteration);
      expect(report.validation_score).toBe(expected.score);
      expect(report.tool).toBe(expected.tool);
      expect(report.reason).toContain(`iteration ${expected.iteration} with ${expected.tool}`);
      const bestDir = `iter-00${expected.iteration}`;
      expect(await readFile(path.join(out, "program.py"), "utf8")).toBe(
        await readFile(path.join(out, "iterations", bestDir, "main.py"), "utf8"),
      );
      expect(await readFile(path.join(out, report.predictions!), "utf8")).toBe(
        await readFile(path.join(taskDir, bestDir, "outputs", report.predictions!), "utf8"),
      );
    },
    RUN_TIMEOUT_MS + 10_000,
  );
});
