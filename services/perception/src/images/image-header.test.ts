import { describe, expect, it } from "vitest";
import { jpegHeader, pngImage } from "../test-fixtures.js";
import { parseImageHeader } from "./image-header.js";

function bytes(values: number[], length = 64): Buffer {
  const buffer = Buffer.alloc(Math.max(length, values.length));
  Buffer.from(values).copy(buffer);
  return buffer;
}

describe("parseImageHeader", () => {
  it("reads PNG size and channels from the colour type", () => {
    expect(parseImageHeader(pngImage(40, 30, 3))).toEqual({ format: "png", width: 40, height: 30, channels: 3 });
    expect(parseImageHeader(pngImage(8, 9, 1))).toEqual({ format: "png", width: 8, height: 9, channels: 1 });
    expect(parseImageHeader(pngImage(8, 9, 4))?.channels).toBe(4);
  });

  it("finds a JPEG's frame header past other segments", () => {
    expect(parseImageHeader(jpegHeader(640, 480))).toEqual({ format: "jpeg", width: 640, height: 480, channels: 3 });
    expect(parseImageHeader(jpegHeader(20, 10, 1))?.channels).toBe(1);
  });

  it("reads GIF, BMP, WebP, TIFF and PNM headers", () => {
    const gif = Buffer.concat([Buffer.from("GIF89a", "latin1"), bytes([0x20, 0x00, 0x10, 0x00], 10)]);
    expect(parseImageHeader(gif)).toEqual({ format: "gif", width: 32, height: 16, channels: 3 });

    const bmp = Buffer.alloc(54);
    bmp.write("BM", 0, "latin1");
    bmp.writeUInt32LE(40, 14);
    bmp.writeInt32LE(12, 18);
    bmp.writeInt32LE(-7, 22); // top-down rows
    bmp.writeUInt16LE(32, 28);
    expect(parseImageHeader(bmp)).toEqual({ format: "bmp", width: 12, height: 7, channels: 4 });

    const webp = Buffer.alloc(30);
    webp.write("RIFF", 0, "latin1");
    webp.write("WEBPVP8X", 8, "latin1");
    webp.writeUInt8(0x10, 20); // alpha
    webp.writeUIntLE(99, 24, 3);
    webp.writeUIntLE(49, 27, 3);
    expect(parseImageHeader(webp)).toEqual({ format: "webp", width: 100, height: 50, channels: 4 });

    const tiff = Buffer.alloc(64);
    tiff.write("II", 0, "latin1");
    tiff.writeUInt16LE(42, 2);
    tiff.writeUInt32LE(8, 4);
    tiff.writeUInt16LE(3, 8);
    [
      [256, 3, 21],
      [257, 3, 13],
      [277, 3, 3],
    ].forEach(([tag, type, value], index) => {
      const at = 10 + index * 12;
      tiff.writeUInt16LE(tag!, at);
      tiff.writeUInt16LE(type!, at + 2);
      tiff.writeUInt32LE(1, at + 4);
      tiff.writeUInt16LE(value!, at + 8);
    });
    expect(parseImageHeader(tiff)).toEqual({ format: "tiff", width: 21, height: 13, channels: 3 });

    expect(parseImageHeader(Buffer.from("P5\n# made by hand\n5 4\n255\n", "latin1"))).toEqual({
      format: "pnm",
      width: 5,
      height: 4,
      channels: 1,
    });
  });

  it("says nothing for text, truncated headers and zero sizes", () => {
    expect(parseImageHeader(Buffer.from("this is not a PNG file\n"))).toBeUndefined();
    expect(parseImageHeader(pngImage(4, 4).subarray(0, 20))).toBeUndefined();
    expect(parseImageHeader(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]))).toBeUndefined();
    expect(parseImageHeader(pngImage(0, 4))).toBeUndefined();
  });
});
