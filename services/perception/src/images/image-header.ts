import { open } from "node:fs/promises";

/** What an image file's header says. */
export interface ImageHeader {
  /** "png", "jpeg", "gif", "bmp", "webp", "tiff" or "pnm". */
  format: string;
  width: number;
  height: number;
  /** 1 gray, 2 gray and alpha, 3 colour (palettes included), 4 colour and alpha. */
  channels: number;
}

/** Bytes read from the start of a file: a JPEG's frame header may follow a large EXIF block. */
const HEAD_BYTES = 256 * 1024;

/**
 * Reads an image's format, size and channels from its header, without
 * decoding pixels; `undefined` when the bytes are no image format known
 * here (a broken file, or text named .png).
 */
export async function readImageHeader(path: string): Promise<ImageHeader | undefined> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
    return parseImageHeader(buffer.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/** The header of an image held in `bytes` (its start is enough). */
export function parseImageHeader(bytes: Buffer): ImageHeader | undefined {
  const parsers = [png, jpeg, gif, bmp, webp, tiff, pnm];
  for (const parse of parsers) {
    const header = safely(() => parse(bytes));
    if (header !== undefined) return header.width > 0 && header.height > 0 ? header : undefined;
  }
  return undefined;
}

/** A truncated header reads past the buffer's end: that is no image, not a crash. */
function safely(parse: () => ImageHeader | undefined): ImageHeader | undefined {
  try {
    return parse();
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };

function png(bytes: Buffer): ImageHeader | undefined {
  if (!bytes.subarray(0, 8).equals(PNG_SIGNATURE) || bytes.toString("latin1", 12, 16) !== "IHDR") return undefined;
  const channels = PNG_CHANNELS[bytes.readUInt8(25)];
  if (channels === undefined) return undefined;
  return { format: "png", width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20), channels };
}

/** Start-of-frame markers: every one but DHT (C4), JPG (C8) and DAC (CC). */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function jpeg(bytes: Buffer): ImageHeader | undefined {
  if (bytes.readUInt8(0) !== 0xff || bytes.readUInt8(1) !== 0xd8) return undefined;
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes.readUInt8(offset) !== 0xff) return undefined;
    const marker = bytes.readUInt8(offset + 1);
    if (marker === 0xff) {
      offset += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      offset += 2; // markers without a length
      continue;
    }
    const length = bytes.readUInt16BE(offset + 2);
    if (isStartOfFrame(marker)) {
      const components = bytes.readUInt8(offset + 9);
      return {
        format: "jpeg",
        height: bytes.readUInt16BE(offset + 5),
        width: bytes.readUInt16BE(offset + 7),
        channels: components === 1 ? 1 : 3,
      };
    }
    if (marker === 0xda || marker === 0xd9) return undefined; // scan data or end before any frame header
    offset += 2 + length;
  }
  return undefined;
}

function gif(bytes: Buffer): ImageHeader | undefined {
  const signature = bytes.toString("latin1", 0, 6);
  if (signature !== "GIF87a" && signature !== "GIF89a") return undefined;
  return { format: "gif", width: bytes.readUInt16LE(6), height: bytes.readUInt16LE(8), channels: 3 };
}

function bmp(bytes: Buffer): ImageHeader | undefined {
  if (bytes.toString("latin1", 0, 2) !== "BM" || bytes.readUInt32LE(14) < 40) return undefined;
  const bits = bytes.readUInt16LE(28);
  return { format: "bmp", width: bytes.readInt32LE(18), height: Math.abs(bytes.readInt32LE(22)), channels: bits === 32 ? 4 : 3 };
}

function webp(bytes: Buffer): ImageHeader | undefined {
  if (bytes.toString("latin1", 0, 4) !== "RIFF" || bytes.toString("latin1", 8, 12) !== "WEBP") return undefined;
  const chunk = bytes.toString("latin1", 12, 16);
  if (chunk === "VP8 ") {
    return { format: "webp", width: bytes.readUInt16LE(26) & 0x3fff, height: bytes.readUInt16LE(28) & 0x3fff, channels: 3 };
  }
  if (chunk === "VP8L") {
    const bits = bytes.readUInt32LE(21);
    return { format: "webp", width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, channels: (bits >>> 28) & 1 ? 4 : 3 };
  }
  if (chunk === "VP8X") {
    const alpha = (bytes.readUInt8(20) & 0x10) !== 0;
    return { format: "webp", width: bytes.readUIntLE(24, 3) + 1, height: bytes.readUIntLE(27, 3) + 1, channels: alpha ? 4 : 3 };
  }
  return undefined;
}

const TIFF_WIDTH = 256;
const TIFF_HEIGHT = 257;
const TIFF_SAMPLES = 277;

function tiff(bytes: Buffer): ImageHeader | undefined {
  const order = bytes.toString("latin1", 0, 2);
  if (order !== "II" && order !== "MM") return undefined;
  const little = order === "II";
  const u16 = (at: number) => (little ? bytes.readUInt16LE(at) : bytes.readUInt16BE(at));
  const u32 = (at: number) => (little ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at));
  if (u16(2) !== 42) return undefined;
  const directory = u32(4);
  const tags = new Map<number, number>();
  for (let entry = 0; entry < u16(directory); entry++) {
    const at = directory + 2 + entry * 12;
    const type = u16(at + 2);
    tags.set(u16(at), type === 3 ? u16(at + 8) : u32(at + 8)); // SHORT or LONG, held in the entry
  }
  const width = tags.get(TIFF_WIDTH);
  const height = tags.get(TIFF_HEIGHT);
  if (width === undefined || height === undefined) return undefined;
  return { format: "tiff", width, height, channels: Math.min(tags.get(TIFF_SAMPLES) ?? 1, 4) };
}

function pnm(bytes: Buffer): ImageHeader | undefined {
  const match = /^P([2356])\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s/.exec(bytes.toString("latin1", 0, 512));
  if (match === null) return undefined;
  return { format: "pnm", width: Number(match[2]), height: Number(match[3]), channels: match[1] === "2" || match[1] === "5" ? 1 : 3 };
}
