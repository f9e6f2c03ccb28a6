/**
 * Partition of a key: FNV-1a over its UTF-8 bytes. Stable across processes
 * and releases, so a task's events always land in the same partition.
 */
export function partitionFor(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(key)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}
