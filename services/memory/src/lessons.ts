import { create, fromJson, toJson, type JsonValue as ProtoJson } from "@bufbuild/protobuf";
import { InvalidInputError } from "@mlzero/errors";
import { FailureCategory, LessonSchema, Verdict, type Episode, type FindLessonsRequest, type Lesson } from "@mlzero/proto";
import { createBm25Encoder, uuidV5, type Filter, type JsonValue, type VectorStore } from "@mlzero/vectors";
import { SPARSE_VECTOR } from "./semantic-memory.js";

/** Collection of the lessons. */
export const LESSONS_COLLECTION = "lessons";

const DEFAULT_LIMIT = 5;
const MAX_LIMIT = 50;
/** Lessons looked at when there is no query to rank by: the newest of these come first. */
const LISTED = 200;

/** Fixes that worked, kept across tasks, and found again for a failure like theirs. */
export interface LessonMemory {
  /**
   * Learns from a successful iteration: when the task's previous iteration
   * failed and the analyzer asked for a fix, that failure and fix become a
   * lesson (once; learning the same success again replaces it). Anything
   * else teaches nothing: a failure alone, or a fix that did not lead to a
   * success, is never stored as a lesson.
   */
  learn(success: Episode, taskEpisodes: Episode[]): Promise<Lesson | undefined>;
  /** The tenant's lessons about this tool and failure, best match first (newest first without a query). */
  find(request: FindLessonsRequest): Promise<Lesson[]>;
}

/**
 * Lessons over `store`: one point each, the lesson in the payload, its keys
 * as filter fields, and a BM25 vector of its tool, failure and analysis so a
 * new failure's words find it. Every read is filtered by tenant.
 */
export function createLessonMemory({ store }: { store: VectorStore }): LessonMemory {
  // A lesson's text is a tool, a category and an analysis of a sentence or two.
  const encoder = createBm25Encoder({ averageLength: 48 });
  let ready: Promise<void> | undefined;
  const ensureCollection = (): Promise<void> => {
    ready ??= store.ensureCollection(LESSONS_COLLECTION, { sparse: { [SPARSE_VECTOR]: { idf: true } } }).catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };

  return {
    async learn(success, taskEpisodes) {
      if (success.verdict !== Verdict.SUCCESS || success.iteration < 2) return undefined;
      const failed = taskEpisodes.find((episode) => episode.iteration === success.iteration - 1 && episode.verdict === Verdict.FIX);
      if (!failed?.nextFix) return undefined;
      const lesson = create(LessonSchema, {
        id: uuidV5(`lesson/${success.tenant}/${success.taskId}/${failed.iteration}`),
        tenant: success.tenant,
        taskId: success.taskId,
        iteration: failed.iteration,
        tool: failed.tool,
        failure: failed.failure,
        analysis: failed.analysis,
        // What really ran next: the fix's tool, or the same one when it kept it.
        fix: { ...failed.nextFix, tool: failed.nextFix.tool || success.tool },
        score: success.score,
        time: success.time,
      });
      await ensureCollection();
      const vector = encoder.document(lessonText(lesson));
      await store.upsert(LESSONS_COLLECTION, [
        {
          id: lesson.id,
          vector: vector.indices.length > 0 ? { [SPARSE_VECTOR]: vector } : {},
          payload: {
            tenant: lesson.tenant,
            task_id: lesson.taskId,
            tool: lesson.tool,
            failure: FailureCategory[lesson.failure] ?? String(lesson.failure),
            time_ms: Number(lesson.time?.seconds ?? 0n) * 1000,
            lesson: toJson(LessonSchema, lesson) as JsonValue,
          },
        },
      ]);
      return lesson;
    },

    async find(request) {
      if (!request.tenant) throw new InvalidInputError("finding lessons needs a tenant");
      await ensureCollection();
      const limit = Math.min(request.limit || DEFAULT_LIMIT, MAX_LIMIT);
      const filter: Filter = { must: [{ key: "tenant", match: { value: request.tenant } }] };
      if (request.tool) filter.must!.push({ key: "tool", match: { value: request.tool } });
      if (request.failure !== FailureCategory.UNSPECIFIED) {
        filter.must!.push({ key: "failure", match: { value: FailureCategory[request.failure] ?? String(request.failure) } });
      }
      if (request.excludeTaskId) filter.must_not = [{ key: "task_id", match: { value: request.excludeTaskId } }];
      const query = encoder.query(request.query);
      if (query.indices.length > 0) {
        const hits = await store.query(LESSONS_COLLECTION, { sparse: { using: SPARSE_VECTOR, vector: query }, filter, limit });
        return hits.map((hit) => ({ ...fromJson(LessonSchema, hit.payload.lesson as ProtoJson), relevance: hit.score }));
      }
      const { points } = await store.scroll(LESSONS_COLLECTION, { filter, limit: LISTED });
      return points
        .sort((left, right) => Number(right.payload.time_ms) - Number(left.payload.time_ms))
        .slice(0, limit)
        .map((point) => fromJson(LessonSchema, point.payload.lesson as ProtoJson));
    },
  };
}

function lessonText(lesson: Lesson): string {
  return [lesson.tool, FailureCategory[lesson.failure], lesson.analysis].filter(Boolean).join("\n");
}
