import { clone, create } from "@bufbuild/protobuf";
import { followEnvelope, type EventBus } from "@mlzero/bus";
import type { Logger } from "@mlzero/logging";
import { FinishedTasks, ProcessedSet, failTaskOnDomainError } from "@mlzero/pipeline";
import {
  Modality,
  PerceptionService,
  ProblemType,
  TaskContextSchema,
  TaskPerceivedSchema,
  type ListToolsResponse,
  type ListToolsRequestSchema,
  type PerceptualContext,
  type TaskContext,
} from "@mlzero/proto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { serve } from "@mlzero/rpc";
import type { ServiceModule } from "@mlzero/service";
import { taskWorkspace } from "@mlzero/workspace";
import type { PerceptionAgents } from "./llm-refine.js";
import { perceive, type PerceiveOptions } from "./perceive.js";

/** The part of the memory service perception uses: the tool registry. */
export interface ToolRegistry {
  listTools(request: MessageInitShape<typeof ListToolsRequestSchema>): Promise<ListToolsResponse>;
}

/** Options for {@link createPerceptionModule}. */
export interface PerceptionModuleOptions {
  bus: EventBus;
  logger: Logger;
  memory: ToolRegistry;
  workspaceRoot: string;
  /**
   * The LLM agents (perception refinement, tool selection), when an LLM
   * endpoint is configured: they refine the rules' context, which stands
   * when they are unavailable. Without them the rules decide alone.
   */
  agents?: PerceptionAgents;
}

/**
 * The perception service: profiles each submitted task's data folder into a
 * typed context with ranked tools. Bad input ends the task with its reason.
 *
 * Redelivery: a task is perceived once per process (`perceived`), so a
 * TaskSubmitted that comes again is dropped. After a restart (say perception
 * died while profiling, before its event was committed) the task is
 * perceived again from scratch, which is safe: perception only reads the
 * task's input folder (read-only since Submit) and is deterministic, so a
 * second TaskPerceived says the same; the coder then generates iteration 1
 * again at most, which the executor runs once (one run per iteration), and
 * the gateway never moves a task back for an event it has passed.
 */
export function createPerceptionModule({ bus, logger, memory, workspaceRoot, agents }: PerceptionModuleOptions): ServiceModule {
  const finished = new FinishedTasks();
  const perceived = new ProcessedSet();
  const perceiveFolder = async (options: Omit<PerceiveOptions, "tools">) => {
    const tools = (await memory.listTools({})).tools;
    const context = await perceive({ ...options, tools });
    if (!agents) return context;
    return agents.refine(context, {
      inputDir: options.inputDir,
      tools,
      ...(options.toolHint ? { toolHint: options.toolHint } : {}),
      ...(options.gpus ? { gpus: options.gpus } : {}),
    });
  };

  return {
    name: "perception",
    grpc: [
      serve(PerceptionService, {
        async perceive(request) {
          const { inputDir, description, toolHint, gpus } = request;
          return { context: await perceiveFolder({ inputDir, description, toolHint, gpus }) };
        },
      }),
    ],
    pipeline: {
      group: "perception",
      stages: { TaskSubmitted: "perception" },
      handlers: {
        TaskSubmitted: async (event) => {
          const envelope = event.envelope;
          if (!envelope || finished.has(envelope.taskId)) return;
          const spec = event.task?.spec;
          await perceived.once(`${envelope.tenant}/${envelope.taskId}`, () =>
            failTaskOnDomainError(bus, envelope, event.task, async () => {
              const workspace = taskWorkspace(workspaceRoot, envelope.tenant, envelope.taskId);
              // Tables derived for the programs (Excel as CSV, joins) go beside the read-only input.
              const context = await perceiveFolder({
                inputDir: workspace.inputDir,
                description: spec?.description ?? "",
                toolHint: spec?.budget?.toolHint ?? "",
                gpus: spec?.budget?.gpus ?? 0,
                taskDir: workspace.taskDir,
              });
              logger.info(
                {
                  taskId: envelope.taskId,
                  tenant: envelope.tenant,
                  modality: Modality[context.modality],
                  label: context.labelColumn,
                  problemType: ProblemType[context.problemType],
                  tools: context.tools.map((tool) => tool.name),
                },
                "data perceived",
              );
              await bus.publish(
                "TaskPerceived",
                create(TaskPerceivedSchema, { envelope: followEnvelope(envelope), task: withPerception(event.task, context) }),
              );
            }),
          );
        },
        TaskCancelRequested: async (event) => finished.add(event.envelope?.taskId ?? ""),
        TaskFinished: async (event) => finished.add(event.envelope?.taskId ?? ""),
      },
    },
  };
}

function withPerception(task: TaskContext | undefined, perception: PerceptualContext): TaskContext {
  const next = task ? clone(TaskContextSchema, task) : create(TaskContextSchema);
  next.perception = perception;
  return next;
}
