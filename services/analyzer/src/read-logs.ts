import { open } from "node:fs/promises";
import { parseResultLine, RESULT_MARKER, type ProgramResult } from "@mlzero/program";

/**
 * The last `maxBytes` of a log file as text, or undefined when the file
 * cannot be read (a run that never started has no logs).
 */
export async function readLogEnd(file: string, maxBytes: number): Promise<string | undefined> {
  const handle = await open(file, "r").catch(() => undefined);
  if (handle === undefined) return undefined;
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString("utf8");
  } finally {
    await handle.close();
  }
}

/**
 * The program's reported validation result: the last valid result line of
 * the whole stdout log, read line by line so a huge log costs no memory.
 */
export async function readResult(stdoutFile: string): Promise<ProgramResult | undefined> {
  const handle = await open(stdoutFile, "r").catch(() => undefined);
  if (handle === undefined) return undefined;
  let result: ProgramResult | undefined;
  for await (const line of handle.readLines()) {
    if (line.includes(RESULT_MARKER)) result = parseResultLine(line) ?? result;
  }
  return result;
}
