import { create } from "@bufbuild/protobuf";
import { InvalidInputError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import { EpisodeSchema, MemoryService, type Episode, type Lesson } from "@mlzero/proto";
import { serve, type ServiceHandlers } from "@mlzero/rpc";
import type { ServiceModule } from "@mlzero/service";
import type { EpisodicMemory } from "./episodic-memory.js";
import type { LessonMemory } from "./lessons.js";
import type { SemanticMemory } from "./semantic-memory.js";

/** The memories the service serves: library knowledge, what each task tried, and the fixes that worked. */
export interface Memories {
  semantic: SemanticMemory;
  episodic: EpisodicMemory;
  lessons: LessonMemory;
}

/** `MemoryService` over the two memories, for gRPC and for in-process clients. */
export function memoryHandlers({ semantic, episodic, lessons }: Memories): ServiceHandlers<typeof MemoryService> {
  return {
    async retrieve(request) {
      return { hits: await semantic.retrieve(request) };
    },
    async listTools(request) {
      return { tools: semantic.listTools(request.modality || undefined) };
    },
    async recordEpisode(request) {
      if (!request.episode?.taskId) throw new InvalidInputError("an episode needs a task id");
      await recordAndLearn({ episodic, lessons }, request.episode);
      return {};
    },
    async listEpisodes(request) {
      if (!request.taskId) throw new InvalidInputError("list episodes needs a task id");
      return { episodes: await episodic.list(request.tenant, request.taskId) };
    },
    async findLessons(request) {
      return { lessons: await lessons.find(request) };
    },
  };
}

/** Options for {@link createMemoryModule}. */
export interface MemoryModuleOptions extends Memories {
  logger: Logger;
}

/**
 * The memory service: answers lookups, records every analyzed iteration as
 * an episode (program, outcome, error analysis, fix), and learns a lesson
 * from every success that a fix led to.
 */
export function createMemoryModule({ logger, semantic, episodic, lessons }: MemoryModuleOptions): ServiceModule {
  return {
    name: "memory",
    grpc: [serve(MemoryService, memoryHandlers({ semantic, episodic, lessons }))],
    pipeline: {
      group: "memory",
      handlers: {
        IterationAnalyzed: async (event) => {
          const envelope = event.envelope;
          if (!envelope) return;
          const analysis = event.analysis;
          const episode = create(EpisodeSchema, {
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
            nextFix: analysis?.fix,
          });
          const lesson = await recordAndLearn({ episodic, lessons }, episode);
          logger.debug({ taskId: envelope.taskId, tenant: envelope.tenant, iteration: envelope.iteration }, "episode recorded");
          if (lesson) {
            logger.info({ taskId: lesson.taskId, tenant: lesson.tenant, tool: lesson.tool, fixTool: lesson.fix?.tool }, "lesson learned");
          }
        },
      },
    },
  };
}

/** Records an episode, then learns from it: a success that a fix led to teaches that fix. */
async function recordAndLearn(
  { episodic, lessons }: Pick<Memories, "episodic" | "lessons">,
  episode: Episode,
): Promise<Lesson | undefined> {
  await episodic.record(episode);
  return lessons.learn(episode, await episodic.list(episode.tenant, episode.taskId));
}
