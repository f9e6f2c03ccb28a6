import type { Logger } from "@mlzero/logging";
import type { Admin } from "kafkajs";

/** One topic as the project wants it. */
export interface TopicSpec {
  topic: string;
  partitions: number;
  replicationFactor: number;
  retentionMs: number;
}

/**
 * Creates the topics that do not exist yet, with explicit partitions and
 * retention (the broker's auto-creation is off). Safe to run from every
 * service at once: a topic another process created first counts as done. An
 * existing topic is left as it is, since changing its partition count would
 * move keys between partitions and break per-task order; a mismatch is logged.
 */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[], logger: Logger): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((spec) => !existing.has(spec.topic));
  if (missing.length > 0) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((spec) => ({
        topic: spec.topic,
        numPartitions: spec.partitions,
        replicationFactor: spec.replicationFactor,
        configEntries: [
          { name: "cleanup.policy", value: "delete" },
          { name: "retention.ms", value: String(spec.retentionMs) },
        ],
      })),
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
}
