import { create } from "@bufbuild/protobuf";
import { InvalidInputError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import { EpisodeSchema, MemoryService } from "@mlzero/proto";
import { serve, type ServiceHandlers } from "@mlzero/rpc";
import type { ServiceModule } from "@mlzero/service";
import type { EpisodicMemory } from "./episodic-memory.js";
import type { SemanticMemory } from "./semantic-memory.js";

/** The two memories the service serves. */
export interface Memories {
  semantic: SemanticMemory;
  episodic: EpisodicMemory;
}

/** `MemoryService` over the two memories, for gRPC and for in-process clients. */
export function memoryHandlers({ semantic, episodic }: Memories): ServiceHandlers<typeof MemoryService> {
  return {
    async retrieve(request) {
      return { hits: await semantic.retrieve(request) };
    },
    async listTools(request) {
      return { tools: semantic.listTools(request.modality || undefined) };
    },
    async recordEpisode(request) {
      if (!request.episode?.taskId) throw new InvalidInputError("an episode needs a task id");
      await episodic.record(request.episode);
      return {};
    },
    async listEpisodes(request) {
      if (!request.taskId) throw new InvalidInputError("list episodes needs a task id");
      return { episodes: await episodic.list(request.tenant, request.taskId) };
    },
  };
}

/** Options for {@link createMemoryModule}. */
export interface MemoryModuleOptions extends Memories {
  logger: Logger;
}

/**
 * The memory service: answers lookups, and records every analyzed iteration
 * as an episode (program, outcome, error analysis, fix).
 */
export function createMemoryModule({ logger, semantic, episodic }: MemoryModuleOptions): ServiceModule {
  return {
    name: "memory",
    grpc: [serve(MemoryService, memoryHandlers({ semantic, episodic }))],
    pipeline: {
      group: "memory",
      handlers: {
        IterationAnalyzed: async (event) => {
          const envelope = event.envelope;
          if (!envelope) return;
          const analysis = event.analysis;
          await episodic.record(
            create(EpisodeSchema, {
              taskId: envelope.taskId,
              tenant: envelope.tenant,
              iteration: envelope.iteration,
              candidateId: event.program?.candidateId,
              tool: event.program?.tool,
              program: event.program?.code,
              verdict: analysis?.verdict,
              failure: analysis?.failure,
              analysis: analysis?.summary,
              fix: analysis?.fix?.plan,
              score: analysis?.score,
              duration: event.result?.duration,
              time: envelope.time,
            }),
          );
          logger.debug({ taskId: envelope.taskId, tenant: envelope.tenant, iteration: envelope.iteration }, "episode recorded");
        },
      },
    },
  };
}
