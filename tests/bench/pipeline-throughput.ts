import path from "node:path";
import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { EventBus } from "@mlzero/bus";
import { startEmbeddedSystem } from "@mlzero/cli";
import type { Logger } from "@mlzero/logging";
import { TaskState, type Task } from "@mlzero/proto";
import { generateChurnTask, generateHousePriceTask, generateSpeciesTask } from "../support/generate-tasks.js";
import { median } from "./stats.js";

/**
 * Tasks per minute through all six modules in one process (the embedded
 * composition) on a given bus, and the control plane's share of each task's
 * wall time: everything but the time the programs themselves ran.
 */
export interface PipelineInput {
  name: string;
  inputDir: string;
}

/** `count` tiny tabular tasks (a few hundred rows), binary, regression and multiclass in turn. */
export async function generateTinyTasks(root: string, count: number, rows = 400): Promise<PipelineInput[]> {
  const inputs: PipelineInput[] = [];
  for (let index = 0; index < count; index++) {
    const dir = path.join(root, `task-${index}`);
    const seed = 1000 + index;
    const [kind, task] =
      index % 3 === 0
        ? ["churn", await generateChurnTask(dir, seed, rows)]
        : index % 3 === 1
          ? ["houses", await generateHousePriceTask(dir, seed, rows)]
          : ["birds", await generateSpeciesTask(dir, seed, rows)];
    inputs.push({ name: `${kind}-${index}`, inputDir: task.inputDir });
  }
  return inputs;
}

export interface PipelineTaskResult {
  name: string;
  state: string;
  tool: string;
  iterations: number;
  /** Gateway's created → finished. */
  wallSeconds: number;
  /** Sum of the program runs' durations (executor: launch to exit). */
  runSeconds: number;
  controlShare: number;
  /** The gateway's per-stage times (from the producers' event times), seconds. */
  stages: Record<string, number>;
}

export interface PipelineResult {
  bus: string;
  tasks: number;
  succeeded: number;
  toolHint: string;
  /** Starting the six modules (indexing memory, joining the consumer groups). */
  startupSeconds: number;
  /** First Submit to the last task's end. */
  makespanSeconds: number;
  tasksPerMinute: number;
  meanWallSeconds: number;
  meanRunSeconds: number;
  /** Σ(wall − run) / Σ wall over the tasks. */
  controlShare: number;
  medianControlShare: number;
  /** Mean seconds per task: perception, coding, execution less the runs, analysis, and the rest (submit, output, hops to the gateway). */
  controlBreakdown: Record<"perception" | "coding" | "executorOverhead" | "analysis" | "other", number>;
  perTask: PipelineTaskResult[];
}

export interface PipelineOptions {
  label: string;
  bus: EventBus;
  inputs: readonly PipelineInput[];
  workspaceRoot: string;
  pythonBin: string;
  logger: Logger;
  toolHint: string;
  /** Called once the system runs, before the first Submit (e.g. to watch the bus). */
  beforeSubmit?: () => Promise<void>;
}

const secondsOf = (duration: Parameters<typeof durationMs>[0] | undefined) => (duration ? durationMs(duration) / 1000 : 0);

function taskResult(name: string, task: Task): PipelineTaskResult {
  const wallSeconds = task.createdAt && task.finishedAt ? (timestampMs(task.finishedAt) - timestampMs(task.createdAt)) / 1000 : Number.NaN;
  const runSeconds = task.iterations.reduce((sum, iteration) => sum + secondsOf(iteration.duration), 0);
  return {
    name,
    state: TaskState[task.state],
    tool: task.tool,
    iterations: task.iterations.length,
    wallSeconds,
    runSeconds,
    controlShare: (wallSeconds - runSeconds) / wallSeconds,
    stages: Object.fromEntries(task.timings.map((timing) => [timing.stage, secondsOf(timing.duration)])),
  };
}

/** Runs every input at once through a fresh embedded system on `bus`; leaves the bus open. */
export async function runPipeline(options: PipelineOptions): Promise<PipelineResult> {
  const startupStarted = performance.now();
  const system = await startEmbeddedSystem({
    workspaceRoot: options.workspaceRoot,
    pythonBin: options.pythonBin,
    logger: options.logger,
    defaults: { maxIterations: 5, timeLimitSeconds: 900, iterationTimeLimitSeconds: 300, memoryLimitBytes: 4 * 1024 ** 3 },
    bus: options.bus,
  });
  const startupSeconds = (performance.now() - startupStarted) / 1000;
  try {
    await options.beforeSubmit?.();
    const started = performance.now();
    const submitted = await Promise.all(
      options.inputs.map((input) =>
        system.tasks.submit({ spec: { inputUri: path.resolve(input.inputDir), budget: { toolHint: options.toolHint } } }),
      ),
    );
    const finals = await Promise.all(
      submitted.map(async ({ task }) => {
        for await (const _update of system.tasks.watch({ taskId: task!.taskId })) {
          // followed to the end
        }
        return (await system.tasks.get({ taskId: task!.taskId })).task!;
      }),
    );
    const makespanSeconds = (performance.now() - started) / 1000;
    const perTask = finals.map((task, index) => taskResult(options.inputs[index]!.name, task));
    const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
    const stage = (name: string) => mean(perTask.map((task) => task.stages[name] ?? 0));
    const meanWallSeconds = mean(perTask.map((task) => task.wallSeconds));
    const meanRunSeconds = mean(perTask.map((task) => task.runSeconds));
    const staged = stage("perception") + stage("coding") + stage("execution") + stage("analysis");
    return {
      bus: options.label,
      tasks: perTask.length,
      succeeded: perTask.filter((task) => task.state === TaskState[TaskState.SUCCEEDED]).length,
      toolHint: options.toolHint,
      startupSeconds,
      makespanSeconds,
      tasksPerMinute: (perTask.length / makespanSeconds) * 60,
      meanWallSeconds,
      meanRunSeconds,
      controlShare: (meanWallSeconds - meanRunSeconds) / meanWallSeconds,
      medianControlShare: median(perTask.map((task) => task.controlShare)),
      controlBreakdown: {
        perception: stage("perception"),
        coding: stage("coding"),
        executorOverhead: stage("execution") - meanRunSeconds,
        analysis: stage("analysis"),
        other: meanWallSeconds - staged,
      },
      perTask,
    };
  } finally {
    await system.stop();
  }
}
