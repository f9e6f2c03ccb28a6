import { open } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import type { LogTail } from "./log-tail.js";

/**
 * Follows a growing log file, feeding what is new to tails. The program
 * writes its logs to files itself (a pipe to the executor would break when
 * the executor dies), so the executor reads them by position. A reader that
 * falls far behind (a program printing gigabytes, or an executor adopting a
 * long run) skips to the end: the tails only ever show the last `windowBytes`.
 */
export class LogFollower {
  private position = 0;
  private decoder = new StringDecoder("utf8");

  constructor(
    private readonly file: string,
    private readonly tails: LogTail[],
    private readonly windowBytes: number,
  ) {}

  /** Reads what the file gained since the last poll. */
  async poll(): Promise<void> {
    let handle;
    try {
      handle = await open(this.file, "r");
    } catch {
      return; // not created yet, or removed: nothing to read
    }
    try {
      const { size } = await handle.stat();
      if (size < this.position) this.position = 0; // truncated: start over
      let skipped = false;
      if (size - this.position > this.windowBytes) {
        this.position = size - this.windowBytes;
        this.decoder = new StringDecoder("utf8");
        skipped = true;
      }
      const length = size - this.position;
      if (length <= 0) return;
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, this.position);
      this.position += bytesRead;
      // After a skip, start on a character: drop continuation bytes (10xxxxxx).
      let start = 0;
      while (skipped && start < bytesRead && (buffer[start]! & 0xc0) === 0x80) start++;
      const text = this.decoder.write(buffer.subarray(start, bytesRead));
      for (const tail of this.tails) tail.append(text);
    } finally {
      await handle.close();
    }
  }
}
