/**
 * Keys of the work a stage has done (or is doing), so that a redelivered
 * event does its effect once: the bus delivers at least once, and a crash
 * between a handler's effect and its commit delivers the event again, with
 * the same event id or, when the producer re-published it, a new one. Stages
 * therefore key on what the work is about (task, iteration, candidate), not
 * on the event id.
 *
 * It lives in memory and is bounded (the oldest keys go first, by which time
 * no event for them is still flowing), so it covers redelivery within one
 * process. Across a restart each stage says in its own code why a repeat is
 * still safe, or keeps a durable record of its own.
 */
export class ProcessedSet {
  private readonly done = new Set<string>();
  private readonly inFlight = new Set<string>();

  constructor(private readonly capacity = 10_000) {}

  /** True when `key` was done, or is being done right now. */
  has(key: string): boolean {
    return this.done.has(key) || this.inFlight.has(key);
  }

  /** Records `key` as done. */
  add(key: string): void {
    this.done.delete(key);
    this.done.add(key);
    if (this.done.size > this.capacity) {
      const oldest = this.done.values().next().value;
      if (oldest !== undefined) this.done.delete(oldest);
    }
  }

  /**
   * Runs `work` unless `key` was done or is in flight; true when it ran. A
   * failure leaves the key free, so the redelivery that follows runs it again.
   */
  async once(key: string, work: () => Promise<void>): Promise<boolean> {
    if (this.has(key)) return false;
    this.inFlight.add(key);
    try {
      await work();
      this.add(key);
      return true;
    } finally {
      this.inFlight.delete(key);
    }
  }
}
