import { fromJson, toJson, type JsonValue as ProtoJson } from "@bufbuild/protobuf";
import { InvalidInputError } from "@mlzero/errors";
import { EpisodeSchema, FailureCategory, Verdict, type Episode } from "@mlzero/proto";
import { createBm25Encoder, uuidV5, type Filter, type JsonValue, type Point, type VectorStore } from "@mlzero/vectors";
import { SPARSE_VECTOR } from "./semantic-memory.js";

/** Collection of the episodes. */
export const EPISODES_COLLECTION = "episodes";

const PAGE = 256;

/** What each iteration of each task tried and what came of it. */
export interface EpisodicMemory {
  /** Stores an episode; recording the same (tenant, task, iteration, candidate) again replaces it. */
  record(episode: Episode): Promise<void>;
  /** A task's episodes, by iteration then candidate id. */
  list(tenant: string, taskId: string): Promise<Episode[]>;
}

/** Options of createEpisodicMemory. */
export interface CreateEpisodicMemoryOptions {
  store: VectorStore;
}

/**
 * Episodic memory over `store`. Each episode is one point: the whole episode
 * in the payload (proto JSON), its keys as filterable fields, and a BM25
 * vector of its analysis and fix, so that later tasks can search what fixed
 * a similar failure.
 */
export function createEpisodicMemory({ store }: CreateEpisodicMemoryOptions): EpisodicMemory {
  // Episode texts (an analysis and a fix) are a few sentences long.
  const encoder = createBm25Encoder({ averageLength: 64 });
  let ready: Promise<void> | undefined;
  const ensureCollection = (): Promise<void> => {
    ready ??= store
      .ensureCollection(EPISODES_COLLECTION, {
        sparse: { [SPARSE_VECTOR]: { idf: true } },
        payloadIndexes: { tenant: { type: "keyword", isTenant: true }, task_id: { type: "keyword" } },
      })
      .catch((error: unknown) => {
        ready = undefined;
        throw error;
      });
    return ready;
  };

  return {
    async record(episode) {
      requireKey(episode.tenant, episode.taskId);
      await ensureCollection();
      const text = [episode.tool, FailureCategory[episode.failure], episode.analysis, episode.fix].filter(Boolean).join("\n");
      const vector = encoder.document(text);
      const point: Point = {
        id: uuidV5(`episode/${episode.tenant}/${episode.taskId}/${episode.iteration}/${episode.candidateId}`),
        vector: vector.indices.length > 0 ? { [SPARSE_VECTOR]: vector } : {},
        payload: {
          tenant: episode.tenant,
          task_id: episode.taskId,
          iteration: episode.iteration,
          candidate_id: episode.candidateId,
          tool: episode.tool,
          verdict: Verdict[episode.verdict] ?? String(episode.verdict),
          failure: FailureCategory[episode.failure] ?? String(episode.failure),
          episode: toJson(EpisodeSchema, episode) as JsonValue,
        },
      };
      await store.upsert(EPISODES_COLLECTION, [point]);
    },

    async list(tenant, taskId) {
      requireKey(tenant, taskId);
      await ensureCollection();
      const filter: Filter = {
        must: [
          { key: "tenant", match: { value: tenant } },
          { key: "task_id", match: { value: taskId } },
        ],
      };
      const episodes: Episode[] = [];
      let offset: string | undefined;
      do {
        const page = await store.scroll(EPISODES_COLLECTION, { filter, limit: PAGE, ...(offset ? { offset } : {}) });
        for (const point of page.points) episodes.push(fromJson(EpisodeSchema, point.payload.episode as ProtoJson));
        offset = page.nextOffset;
      } while (offset);
      return episodes.sort(
        (left, right) =>
          left.iteration - right.iteration || (left.candidateId < right.candidateId ? -1 : left.candidateId > right.candidateId ? 1 : 0),
      );
    },
  };
}

function requireKey(tenant: string, taskId: string): void {
  if (!tenant) throw new InvalidInputError("an episode needs a tenant");
  if (!taskId) throw new InvalidInputError("an episode needs a task id");
}
