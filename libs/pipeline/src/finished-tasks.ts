/**
 * Tasks this service has seen end or be cancelled, so that it drops further
 * work for them (events already in flight, redeliveries). Bounded: the oldest
 * entries go first, by which time no event for them is still flowing.
 */
export class FinishedTasks {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 10_000) {}

  add(taskId: string): void {
    this.ids.delete(taskId);
    this.ids.add(taskId);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
  }

  has(taskId: string): boolean {
    return this.ids.has(taskId);
  }
}
