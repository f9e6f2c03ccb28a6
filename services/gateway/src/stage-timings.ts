import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";

/** Stages of the loop whose time the report shows. */
export type Stage = "perception" | "coding" | "execution" | "analysis";

type Mark = "submitted" | "perceived" | "planned" | "generated" | "started" | "executed" | "analyzed";

/**
 * Per-stage time of one task, from the producers' event times rather than
 * from the order events arrive in (different topics may arrive out of order).
 */
export class StageTimings {
  private readonly marks: Map<string, number>;

  /** Timings from recorded marks (see {@link StageTimings.toRecord}). */
  constructor(marks: Record<string, number> = {}) {
    this.marks = new Map(Object.entries(marks));
  }

  /**
   * Records when an event of the loop happened. The earliest time wins: an
   * event delivered again, or published again after a crash, says nothing
   * new about when the stage ended.
   */
  mark(mark: Mark, iteration: number, time: Timestamp | undefined): void {
    if (!time) return;
    const key = `${mark}:${iteration}`;
    const ms = timestampMs(time);
    const earlier = this.marks.get(key);
    if (earlier === undefined || ms < earlier) this.marks.set(key, ms);
  }

  /** Whether an event of this mark and iteration was marked before. */
  has(mark: Mark, iteration: number): boolean {
    return this.marks.has(`${mark}:${iteration}`);
  }

  /** The marks as plain data, to keep with the task across a restart. */
  toRecord(): Record<string, number> {
    return Object.fromEntries(this.marks);
  }

  /** Milliseconds per stage, summed over iterations (runs of one round overlap, so the sum can exceed the wall time). */
  totals(): Record<Stage, number> {
    const at = (mark: Mark, iteration: number) => this.marks.get(`${mark}:${iteration}`);
    const span = (from: number | undefined, to: number | undefined) =>
      from !== undefined && to !== undefined ? Math.max(0, to - from) : 0;
    const totals: Record<Stage, number> = { perception: 0, coding: 0, execution: 0, analysis: 0 };
    totals.perception = span(at("submitted", 0), at("perceived", 0));
    for (let iteration = 1; at("generated", iteration) !== undefined; iteration++) {
      // From its round's plan (the analyzer's RoundPlanned); before the search had rounds, from the iteration before.
      const previous = at("planned", iteration) ?? (iteration === 1 ? at("perceived", 0) : at("analyzed", iteration - 1));
      totals.coding += span(previous, at("generated", iteration));
      totals.execution += span(at("generated", iteration), at("executed", iteration));
      totals.analysis += span(at("executed", iteration), at("analyzed", iteration));
    }
    return totals;
  }
}
