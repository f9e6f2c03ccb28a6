/**
 * The machine-readable line a program prints on stdout when it has a
 * validation score: `MLZERO_RESULT {"metric": "roc_auc", "score": 0.91, ...}`.
 */
export const RESULT_MARKER = "MLZERO_RESULT";

/** What a program reports about its own validation. */
export interface ProgramResult {
  metric: string;
  score: number;
  /** Rows held out for validation. */
  validation_rows?: number;
  /** Short name of the model that won, e.g. "LGBMClassifier". */
  model?: string;
}

/**
 * The last well-formed result line in a program's output, or undefined.
 * A malformed line is ignored rather than trusted: program output is untrusted.
 */
export function parseResultLine(output: string): ProgramResult | undefined {
  const lines = output.split(/\r?\n/);
  for (let index = lines.length - 1; index >= 0; index--) {
    const line = lines[index]!.trim();
    if (!line.startsWith(RESULT_MARKER + " ")) continue;
    try {
      const value: unknown = JSON.parse(line.slice(RESULT_MARKER.length + 1));
      if (isProgramResult(value)) return value;
    } catch {
      // not JSON: keep looking for an earlier, valid line
    }
  }
  return undefined;
}

function isProgramResult(value: unknown): value is ProgramResult {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.metric === "string" && typeof record.score === "number" && Number.isFinite(record.score);
}
