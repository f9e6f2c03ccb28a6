/** Event ids a consumer group handled lately, oldest dropped first. */
export interface RecentIds {
  has(id: string): boolean;
  add(id: string): void;
}

/**
 * A bounded set of recently handled event ids. Kafka redelivers what a group
 * had not committed when its partitions move (a rebalance, a failed commit);
 * remembering what this process already handled keeps such a redelivery
 * from running a handler twice here. Other processes rely on the handlers
 * being idempotent.
 */
export function createRecentIds(capacity: number): RecentIds {
  // A Map iterates in insertion order: its first key is the oldest.
  const ids = new Map<string, true>();
  return {
    has: (id) => ids.has(id),
    add(id) {
      ids.delete(id);
      ids.set(id, true);
      if (ids.size > capacity) ids.delete(ids.keys().next().value!);
    },
  };
}
