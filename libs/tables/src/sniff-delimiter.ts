/** Field separators tried, in the order that breaks ties. */
const CANDIDATES = [",", "\t", ";", "|"] as const;

/** How many lines of the file's start are compared. */
const SAMPLE_LINES = 20;

/**
 * Guesses a delimited text table's separator from its first lines: the
 * candidate that appears the same, non-zero number of times on every line
 * wins, the most frequent first; failing that, the one most frequent on the
 * header line. Quoted text is ignored, since a quoted comma separates nothing.
 * A file with none of them is a one-column table and gets ",".
 */
export function sniffDelimiter(head: string, complete: boolean): string {
  const unquoted = head.replace(/"(?:[^"]|"")*"/g, '""');
  let lines = unquoted.split(/\r?\n/);
  // The last line of a partial head may be cut short.
  if (!complete && lines.length > 1) lines = lines.slice(0, -1);
  lines = lines.filter((line) => line.trim() !== "").slice(0, SAMPLE_LINES);

  let best: { delimiter: string; count: number; consistent: boolean } | undefined;
  for (const delimiter of CANDIDATES) {
    const counts = lines.map((line) => line.split(delimiter).length - 1);
    const count = counts[0] ?? 0;
    if (count === 0) continue;
    const consistent = counts.every((c) => c === count);
    if (best === undefined || (consistent && !best.consistent) || (consistent === best.consistent && count > best.count)) {
      best = { delimiter, count, consistent };
    }
  }
  return best?.delimiter ?? ",";
}
