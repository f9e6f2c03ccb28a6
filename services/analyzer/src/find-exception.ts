/** The exception a Python program died of, as its traceback shows it. */
export interface PythonException {
  /** Class name without its module, e.g. "KeyError", "ParserError". */
  type: string;
  /** The whole exception line, e.g. "pandas.errors.ParserError: Error tokenizing data...". */
  line: string;
  /** Message after the colon, trimmed; "" when there is none. */
  message: string;
  /** Innermost frame in the program itself, e.g. "main.py line 12". */
  location?: string;
  /** The traceback that ends with this exception, its header to its exception line. */
  traceback: string;
}

// An exception line starts at column 0 with a dotted class name. Warnings are
// left out: they print the same shape but do not stop the program.
const EXCEPTION_LINE = /^((?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Iteration|Failure)))(?::\s?(.*))?$/;
const PROGRAM_FRAME = /^\s*File "(?:[^"]*\/)?(main\.py)", line (\d+)/;

/**
 * The last exception in a log: Python prints the exception that ends a
 * program last, after any chained ones ("During handling of the above
 * exception..."). SyntaxError has no "Traceback" header, so the search is on
 * the exception line itself.
 */
export function findException(log: string): PythonException | undefined {
  const lines = log.split(/\r?\n/);
  for (let index = lines.length - 1; index >= 0; index--) {
    const match = EXCEPTION_LINE.exec(lines[index]!);
    if (!match) continue;
    let start = index;
    while (start > 0 && /^(\s|Traceback \(most recent call last\))/.test(lines[start - 1]!)) {
      start--;
      if (lines[start]!.startsWith("Traceback")) break;
    }
    const frames = lines.slice(start, index);
    // Frames run outermost first, so the last one in main.py is where it broke.
    const located = frames
      .map((line) => PROGRAM_FRAME.exec(line))
      .filter((found) => found !== null)
      .at(-1);
    return {
      type: match[2]!,
      line: lines[index]!.trim(),
      message: (match[3] ?? "").trim(),
      ...(located ? { location: `${located[1]} line ${located[2]}` } : {}),
      traceback: lines.slice(start, index + 1).join("\n"),
    };
  }
  return undefined;
}
