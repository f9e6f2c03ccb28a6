/**
 * Wait before delivering an event again after its `attempt`-th failure:
 * `firstDelayMs`, doubling per attempt. Every bus uses the same schedule.
 */
export function retryDelayMs(firstDelayMs: number, attempt: number): number {
  return firstDelayMs * 2 ** (attempt - 1);
}
