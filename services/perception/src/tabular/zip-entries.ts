import { inflateRawSync } from "node:zlib";
import { InvalidInputError } from "@mlzero/errors";

const END_OF_DIRECTORY = 0x06054b50;
const DIRECTORY_ENTRY = 0x02014b50;
const LOCAL_HEADER = 0x04034b50;
const STORED = 0;
const DEFLATED = 8;

/** One member of a ZIP archive, read on demand. */
export interface ZipEntry {
  name: string;
  uncompressedSize: number;
  /** The member's bytes; refuses members larger than `maxBytes` uncompressed. */
  read(maxBytes: number): Buffer;
}

/**
 * The members of a ZIP archive held in memory (an .xlsx workbook is one),
 * from its central directory. `what` names the file in error messages. Only
 * what spreadsheets use is supported: stored and deflated members, no ZIP64,
 * no encryption.
 */
export function zipEntries(archive: Buffer, what: string): Map<string, ZipEntry> {
  const bad = (why: string) => new InvalidInputError(`${what} is not a readable workbook: ${why}`);
  const end = findEndOfDirectory(archive);
  if (end < 0) throw bad("no ZIP directory (is it an old .xls file? save it as .xlsx or CSV)");
  const count = archive.readUInt16LE(end + 10);
  let offset = archive.readUInt32LE(end + 16);
  const entries = new Map<string, ZipEntry>();
  for (let index = 0; index < count; index++) {
    if (offset + 46 > archive.length || archive.readUInt32LE(offset) !== DIRECTORY_ENTRY) throw bad("a damaged ZIP directory");
    const flags = archive.readUInt16LE(offset + 8);
    const method = archive.readUInt16LE(offset + 10);
    const compressedSize = archive.readUInt32LE(offset + 20);
    const uncompressedSize = archive.readUInt32LE(offset + 24);
    const nameLength = archive.readUInt16LE(offset + 28);
    const extraLength = archive.readUInt16LE(offset + 30);
    const commentLength = archive.readUInt16LE(offset + 32);
    const localOffset = archive.readUInt32LE(offset + 42);
    const name = archive.toString("utf8", offset + 46, offset + 46 + nameLength);
    offset += 46 + nameLength + extraLength + commentLength;
    entries.set(name, {
      name,
      uncompressedSize,
      read(maxBytes) {
        if ((flags & 1) !== 0) throw bad(`${name} is encrypted`);
        if (uncompressedSize > maxBytes) throw bad(`${name} is larger than ${Math.round(maxBytes / 2 ** 20)} MiB; save the sheet as CSV`);
        if (localOffset + 30 > archive.length || archive.readUInt32LE(localOffset) !== LOCAL_HEADER) throw bad(`${name} is damaged`);
        const start = localOffset + 30 + archive.readUInt16LE(localOffset + 26) + archive.readUInt16LE(localOffset + 28);
        const data = archive.subarray(start, start + compressedSize);
        if (method === STORED) return data;
        if (method === DEFLATED) return inflateRawSync(data, { maxOutputLength: Math.max(maxBytes, 1) });
        throw bad(`${name} uses ZIP compression method ${method}`);
      },
    });
  }
  return entries;
}

/** Offset of the end-of-central-directory record, searched from the end past an archive comment. */
function findEndOfDirectory(archive: Buffer): number {
  for (let offset = archive.length - 22; offset >= Math.max(0, archive.length - 22 - 0xffff); offset--) {
    if (archive.readUInt32LE(offset) === END_OF_DIRECTORY) return offset;
  }
  return -1;
}
