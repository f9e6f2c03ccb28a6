/**
 * The last lines of a growing log, capped in bytes. It keeps only a bounded
 * window of text, so a program that prints gigabytes costs no memory here.
 */
export class LogTail {
  private text = "";

  constructor(
    private readonly maxLines: number,
    private readonly maxBytes: number,
  ) {}

  /** Adds decoded output. */
  append(chunk: string): void {
    this.text += chunk;
    // Every character is at least one byte, so keeping maxBytes characters
    // keeps at least maxBytes bytes: enough for any tail we can return.
    if (this.text.length > 2 * this.maxBytes) this.text = this.text.slice(-this.maxBytes);
  }

  /**
   * The last `maxLines` lines as a terminal would show them (a carriage
   * return, as progress bars print, overwrites its line), at most `maxBytes`.
   */
  tail(): string {
    const lines = this.text.replace(/\n$/, "").split("\n").slice(-this.maxLines);
    const shown = lines.map((line) => {
      const content = line.replace(/\r$/, "");
      return content.slice(content.lastIndexOf("\r") + 1);
    });
    return lastBytes(shown.join("\n"), this.maxBytes);
  }
}

/** The end of `text` that fits `maxBytes` of UTF-8, never splitting a character. */
export function lastBytes(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= maxBytes) return text;
  let start = bytes.length - maxBytes;
  // Skip continuation bytes (10xxxxxx) so decoding starts on a character.
  while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++;
  return bytes.subarray(start).toString("utf8");
}
