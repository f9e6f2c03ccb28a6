import { tableFileError } from "./table-file-error.js";

/** How much of a file's start is checked before it is parsed as text. */
export const TEXT_CHECK_BYTES = 1024;

const SIGNATURES: readonly { magic: number[]; kind: string }[] = [
  { magic: [0x50, 0x41, 0x52, 0x31], kind: "a Parquet file" },
  { magic: [0x1f, 0x8b], kind: "a gzip archive" },
  { magic: [0x50, 0x4b, 0x03, 0x04], kind: "a zip archive" },
  { magic: [0xff, 0xfe], kind: "UTF-16 text" },
  { magic: [0xfe, 0xff], kind: "UTF-16 text" },
];

/**
 * Decodes the start of a file that should be text and throws a one-line
 * error naming the file when it is empty, binary or not UTF-8. Catching
 * this up front gives a clear message where the parser would report some
 * confusing field-count error deep in the file.
 */
export function decodeTextHead(filePath: string, head: Buffer, complete: boolean): string {
  const checked = head.subarray(0, TEXT_CHECK_BYTES);
  const signature = SIGNATURES.find(({ magic }) => magic.every((byte, i) => checked[i] === byte));
  if (signature !== undefined) {
    throw tableFileError(filePath, `is not a text table (binary content: looks like ${signature.kind})`);
  }
  if (checked.includes(0)) throw tableFileError(filePath, "is not a text table (binary content)");
  let text: string;
  try {
    // stream: true tolerates a character cut in half at the end of the head.
    text = new TextDecoder("utf-8", { fatal: true }).decode(head, { stream: !complete });
  } catch (error) {
    throw tableFileError(filePath, "is not a text table (not valid UTF-8; save it as UTF-8)", error);
  }
  if (text.replace(/^\uFEFF/, "").trim() === "") throw tableFileError(filePath, "is empty");
  return text;
}
