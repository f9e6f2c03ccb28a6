import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { createInProcessBus, newEnvelope } from "@mlzero/bus";
import { createSilentLogger } from "@mlzero/logging";
import { Modality, ProblemType, TaskContextSchema, TaskSubmittedSchema, ToolSchema, type TaskPerceived } from "@mlzero/proto";
import { taskWorkspace } from "@mlzero/workspace";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createPerceptionModule, type ToolRegistry } from "./perception-module.js";

const logger = createSilentLogger();
let root: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "perception-module-"));
  const { inputDir } = taskWorkspace(root, "acme", "task-1");
  await mkdir(inputDir, { recursive: true });
  const rows = Array.from({ length: 40 }, (_, index) => `${index},${index % 7}.5,${index % 2 ? "yes" : "no"}`);
  await writeFile(path.join(inputDir, "train.csv"), `id,x,churn\n${rows.join("\n")}\n`);
  await writeFile(path.join(inputDir, "test.csv"), `id,x\n${rows.map((row) => row.split(",").slice(0, 2).join(",")).join("\n")}\n`);
});

afterEach(async () => rm(root, { recursive: true, force: true }));

describe("perception module under redelivery", () => {
  it("perceives a task once however often its TaskSubmitted comes", async () => {
    const bus = createInProcessBus({ logger, retryBackoffMs: 1 });
    let lookups = 0;
    const memory: ToolRegistry = {
      listTools: async () => {
        lookups++;
        const tool = create(ToolSchema, {
          name: "lightgbm",
          modalities: [Modality.TABULAR],
          problemTypes: [ProblemType.BINARY, ProblemType.MULTICLASS, ProblemType.REGRESSION],
          priority: 50,
        });
        return { $typeName: "mlzero.v1.ListToolsResponse", tools: [tool] };
      },
    };
    const module = createPerceptionModule({ bus, logger, memory, workspaceRoot: root });
    const perceived: TaskPerceived[] = [];
    await bus.subscribe(module.pipeline!);
    await bus.subscribe({ group: "observer", handlers: { TaskPerceived: async (event) => void perceived.push(event) } });

    const submitted = create(TaskSubmittedSchema, {
      envelope: newEnvelope({ taskId: "task-1", tenant: "acme", iteration: 0 }),
      task: create(TaskContextSchema, {}),
    });
    await bus.publish("TaskSubmitted", submitted);
    await bus.publish("TaskSubmitted", submitted);
    await bus.whenIdle();
    expect(perceived).toHaveLength(1);
    expect(perceived[0]!.task?.perception?.labelColumn).toBe("churn");
    expect(lookups).toBe(1);
    await bus.close();
  });

  it("writes the tables it derives for the programs into the task's workspace, beside the input", async () => {
    const workspace = taskWorkspace(root, "acme", "task-1");
    const extra = Array.from({ length: 50 }, (_, index) => `${index},${index * 2}`).join("\n");
    await writeFile(path.join(workspace.inputDir, "extra.csv"), `id,z\n${extra}\n`);
    const bus = createInProcessBus({ logger, retryBackoffMs: 1 });
    const memory: ToolRegistry = { listTools: async () => ({ $typeName: "mlzero.v1.ListToolsResponse", tools: [] }) };
    const module = createPerceptionModule({ bus, logger, memory, workspaceRoot: root });
    const perceived: TaskPerceived[] = [];
    await bus.subscribe(module.pipeline!);
    await bus.subscribe({ group: "observer", handlers: { TaskPerceived: async (event) => void perceived.push(event) } });
    await bus.publish(
      "TaskSubmitted",
      create(TaskSubmittedSchema, {
        envelope: newEnvelope({ taskId: "task-1", tenant: "acme", iteration: 0 }),
        task: create(TaskContextSchema, {}),
      }),
    );
    await bus.whenIdle();
    const context = perceived[0]!.task!.perception!;
    expect(context.joins.map((join) => join.file)).toEqual(["extra.csv"]);
    expect(context.derivedTrainFile).toBe("derived/train.csv");
    expect((await readFile(path.join(workspace.taskDir, context.derivedTrainFile), "utf8")).split("\n")[0]).toBe("id,x,churn,z");
    await bus.close();
  });
});
