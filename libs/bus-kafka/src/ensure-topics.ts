import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "@mlzero/logging";
import type { Admin, ConfigResourceTypes } from "kafkajs";

// kafkajs's ConfigResourceTypes.TOPIC. Node's ESM loader cannot see that
// named export of the CommonJS package (it follows an object spread), so the
// value is spelled out here.
const TOPIC_RESOURCE: ConfigResourceTypes = 2;

/** One topic as the project wants it. */
export interface TopicSpec {
  topic: string;
  partitions: number;
  replicationFactor: number;
  /**
   * How the broker bounds the topic: `delete` drops records older than
   * `retentionMs` (event topics; the default), `compact` keeps the latest
   * record of every key (state topics).
   */
  cleanupPolicy?: "delete" | "compact";
  /** How long records are kept; required by the `delete` policy. */
  retentionMs?: number;
  /** Further topic configs, e.g. compaction tuning ("segment.ms" → "3600000"). */
  configs?: Readonly<Record<string, string>>;
}

/**
 * Creates the topics that do not exist yet, with explicit partitions, cleanup
 * policy and retention (the broker's auto-creation is off). Safe to run from
 * every service at once: a topic another process created first counts as
 * done. An existing topic is left as it is, since changing its partition
 * count would move keys between partitions and break per-task order; a
 * mismatch in partitions or cleanup policy is logged.
 */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[], logger: Logger): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((spec) => !existing.has(spec.topic));
  if (missing.length > 0) {
    await admin
      .createTopics({
        waitForLeaders: true,
        topics: missing.map((spec) => ({
          topic: spec.topic,
          numPartitions: spec.partitions,
          replicationFactor: spec.replicationFactor,
          configEntries: Object.entries(topicConfigs(spec)).map(([name, value]) => ({ name, value })),
        })),
      })
      .catch(async (error: unknown) => {
        // Created, but kafkajs gave up waiting for the leaders: on KRaft the
        // broker may answer a moment longer that it does not know a topic
        // just created, which kafkajs does not retry. Waited for here.
        if ((error as { type?: string }).type !== "UNKNOWN_TOPIC_OR_PARTITION") throw error;
        await waitForLeaders(
          admin,
          missing.map((spec) => spec.topic),
        );
      });
    logger.info({ topics: missing.map((spec) => spec.topic) }, "created topics");
  }
  const present = specs.filter((spec) => existing.has(spec.topic));
  if (present.length === 0) return;
  const { topics } = await admin.fetchTopicMetadata({ topics: present.map((spec) => spec.topic) });
  for (const metadata of topics) {
    const spec = present.find((candidate) => candidate.topic === metadata.name)!;
    if (metadata.partitions.length !== spec.partitions) {
      logger.warn(
        { topic: spec.topic, partitions: metadata.partitions.length, wanted: spec.partitions },
        "topic exists with another partition count; left as it is",
      );
    }
  }
  // A state topic that someone created with the delete policy would lose
  // state silently once its retention passed: worth a look at start.
  const compacted = present.filter((spec) => spec.cleanupPolicy === "compact");
  if (compacted.length === 0) return;
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: compacted.map((spec) => ({ type: TOPIC_RESOURCE, name: spec.topic, configNames: ["cleanup.policy"] })),
  });
  for (const resource of resources) {
    const policy = resource.configEntries.find((entry) => entry.configName === "cleanup.policy")?.configValue;
    if (policy !== "compact") {
      logger.warn(
        { topic: resource.resourceName, cleanupPolicy: policy, wanted: "compact" },
        "topic exists with another cleanup policy; left as it is",
      );
    }
  }
}

/** The configs a new topic is created with. */
function topicConfigs(spec: TopicSpec): Record<string, string> {
  const policy = spec.cleanupPolicy ?? "delete";
  if (policy === "delete" && spec.retentionMs === undefined) throw new Error(`topic ${spec.topic}: the delete policy needs a retention`);
  return {
    "cleanup.policy": policy,
    ...(spec.retentionMs === undefined ? {} : { "retention.ms": String(spec.retentionMs) }),
    ...spec.configs,
  };
}

/** Waits until every partition of the topics has a leader (about 15 s at most). */
async function waitForLeaders(admin: Admin, topics: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics });
      if (metadata.topics.every((topic) => topic.partitions.length > 0 && topic.partitions.every((partition) => partition.leader >= 0)))
        return;
    } catch (error) {
      const type = (error as { type?: string }).type;
      if ((type !== "UNKNOWN_TOPIC_OR_PARTITION" && type !== "LEADER_NOT_AVAILABLE") || attempt >= 50) throw error;
    }
    if (attempt >= 50) throw new Error(`topics ${topics.join(", ")} have no leaders yet`);
    await sleep(Math.min(50 * attempt, 500));
  }
}
