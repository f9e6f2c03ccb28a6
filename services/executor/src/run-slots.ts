import { metrics } from "@mlzero/telemetry";

/** Gives a slot back; a second call does nothing. */
export type ReleaseSlot = () => void;

/**
 * At most `limit` programs run at once (0: no limit); a run that finds none
 * free waits its turn, first come first served.
 */
export class RunSlots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /** A free slot now, or undefined when every slot is taken. */
  tryTake(): ReleaseSlot | undefined {
    if (this.limit > 0 && (this.active >= this.limit || this.waiting.length > 0)) return undefined;
    return this.occupy();
  }

  /** Resolves with a slot once one is free. */
  take(): Promise<ReleaseSlot> {
    const now = this.tryTake();
    if (now) return Promise.resolve(now);
    metrics.queueDepth("executor_runs", 1);
    return new Promise((resolve) =>
      this.waiting.push(() => {
        metrics.queueDepth("executor_runs", -1);
        resolve(this.occupy());
      }),
    );
  }

  /**
   * Counts a run that is running already (adopted after a restart) without
   * waiting: it holds a slot, possibly over the limit, until released.
   */
  occupy(): ReleaseSlot {
    this.active++;
    metrics.runsActive(1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      metrics.runsActive(-1);
      while (this.waiting.length > 0 && (this.limit === 0 || this.active < this.limit)) this.waiting.shift()!();
    };
  }

  /** Runs waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }
}
