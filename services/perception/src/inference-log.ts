import { create } from "@bufbuild/protobuf";
import { InferenceSchema, type Inference } from "@mlzero/proto";

/**
 * Collects what perception inferred and why, in the order it decided, so a
 * user (or the coder's prompt) can see the evidence behind every choice.
 */
export class InferenceLog {
  readonly entries: Inference[] = [];

  /** Records one inference. */
  add(field: string, value: string, evidence: string): void {
    this.entries.push(create(InferenceSchema, { field, value, evidence }));
  }
}
