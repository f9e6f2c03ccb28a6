import { createInProcessBus, type EventBus, type InProcessBus } from "@mlzero/bus";
import { analyzerOptionsFromEnv, createAnalyzerModule } from "@mlzero/analyzer";
import { coderFromEnv, createCoderModule } from "@mlzero/coder";
import { createExecutorModule, createLocalRunner } from "@mlzero/executor";
import { createGatewayModule, createMemoryTaskStore, withTaskMetrics, type Authenticator, type BudgetDefaults } from "@mlzero/gateway";
import type { Logger } from "@mlzero/logging";
import { createMemoryModule, memoryHandlers, openMemories } from "@mlzero/memory";
import { createPerceptionModule, perceptionAgentsFromEnv } from "@mlzero/perception";
import { MemoryService, TaskService } from "@mlzero/proto";
import { localClient, type ServiceClient } from "@mlzero/rpc";
import { startModule, type ServiceModule, type StartedModule } from "@mlzero/service";
import { createEmbeddedVectorStore } from "@mlzero/vectors";

/** Options for {@link startEmbeddedSystem}. */
export interface EmbeddedSystemOptions<B extends EventBus = InProcessBus> {
  workspaceRoot: string;
  /** Python of the runtime programs run in. */
  pythonBin: string;
  logger: Logger;
  defaults: BudgetDefaults;
  knowledgeDir?: string;
  /** Also serve each service's gRPC API on 127.0.0.1 (a free port each). */
  serveGrpc?: boolean;
  /**
   * The pipeline bus (e.g. a Kafka bus, for the benchmark); a fresh
   * in-process bus when left out. A bus handed in stays open on `stop`: its
   * owner closes it.
   */
  bus?: B;
  /**
   * Where the services' own settings come from, as each service's main reads
   * them from its environment: the LLM endpoint and models (`MLZERO_LLM_*`,
   * `MLZERO_CODER_PROMPTS_DIR`) and the search (`MLZERO_SEARCH_PARALLELISM`,
   * `MLZERO_SEARCH_IMPROVE_ROUNDS`). Default: none, so the offline planner
   * with the search's defaults.
   */
  env?: NodeJS.ProcessEnv;
  /** Who a gateway call is from (bearer tokens → tenants); default: one tenant, "default", no authentication. */
  authenticator?: Authenticator;
}

/** All six services in this process, wired over one bus (the in-process bus unless one was handed in). */
export interface EmbeddedSystem<B extends EventBus = InProcessBus> {
  tasks: ServiceClient<typeof TaskService>;
  memory: ServiceClient<typeof MemoryService>;
  bus: B;
  /** gRPC address per service name, when serveGrpc was asked. */
  addresses: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * The embedded mode: the same six service modules the cluster runs as
 * separate processes, here in one process on the in-process bus, with the
 * embedded vector store, the local sandboxed runner and the offline planner,
 * or the LLM agents when `env` names an endpoint (`MLZERO_LLM_URL`), built by
 * the same functions as in the services' mains. Lookups between services (perception and coder asking memory) go through
 * in-process clients with the gRPC clients' signatures.
 */
export async function startEmbeddedSystem<B extends EventBus = InProcessBus>(
  options: EmbeddedSystemOptions<B>,
): Promise<EmbeddedSystem<B>> {
  const { logger, workspaceRoot } = options;
  const ownsBus = options.bus === undefined;
  // Without a bus handed in, B is its default, InProcessBus.
  const bus = options.bus ?? (createInProcessBus({ logger: logger.child({ component: "bus" }) }) as EventBus as B);
  const store = createEmbeddedVectorStore();
  const { memories } = await openMemories({ store, knowledgeDir: options.knowledgeDir });
  const memory = localClient(MemoryService, memoryHandlers(memories));
  const log = (service: string) => logger.child({ service });
  const env = options.env ?? {};
  // Each service's own reading of the environment, as its main does: the LLM agents and the search's settings.
  const perceptionAgents = await perceptionAgentsFromEnv(env, log("perception"));
  const coder = await coderFromEnv({ env, memory, logger: log("coder") });
  const search = await analyzerOptionsFromEnv(env, log("analyzer"));

  const gateway = createGatewayModule({
    bus,
    logger: log("gateway"),
    workspaceRoot,
    defaults: options.defaults,
    store: withTaskMetrics(createMemoryTaskStore()),
    authenticator: options.authenticator,
  });
  const modules: ServiceModule[] = [
    gateway,
    createPerceptionModule({ bus, logger: log("perception"), memory, workspaceRoot, agents: perceptionAgents }),
    createMemoryModule({ logger: log("memory"), ...memories }),
    createCoderModule({ bus, logger: log("coder"), coder }),
    createExecutorModule({ bus, logger: log("executor"), workspaceRoot, runner: createLocalRunner({ pythonBin: options.pythonBin }) }),
    createAnalyzerModule({
      bus,
      logger: log("analyzer"),
      workspaceRoot,
      defaultMaxIterations: options.defaults.maxIterations,
      ...search,
      lessons: memory,
    }),
  ];
  const started: StartedModule[] = [];
  const addresses: Record<string, string> = {};
  for (const module of modules) {
    const running = await startModule(module, {
      bus,
      logger: log(module.name),
      listen: options.serveGrpc ? { host: "127.0.0.1", port: 0 } : undefined,
    });
    started.push(running);
    if (running.server) addresses[module.name] = running.server.address;
  }
  return {
    tasks: localClient(TaskService, gateway.taskService),
    memory,
    bus,
    addresses,
    async stop() {
      for (const running of started.reverse()) await running.stop();
      if (ownsBus) await bus.close();
    },
  };
}
