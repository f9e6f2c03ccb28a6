/**
 * Runs work one piece at a time per key (a task), in arrival order: each
 * piece starts once the key's previous one settled, and a failure does not
 * stop the next. For a task's decisions (analyzer) and its saves and
 * deletes (the gateway's stores).
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `work` after the key's earlier work; answers its outcome. */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const current = (this.tails.get(key) ?? Promise.resolve()).then(work);
    const settled = current.catch(() => undefined);
    this.tails.set(key, settled);
    void settled.then(() => {
      if (this.tails.get(key) === settled) this.tails.delete(key);
    });
    return current;
  }

  /** Settles once the work queued so far has. */
  async idle(): Promise<void> {
    await Promise.all([...this.tails.values()]);
  }
}
