import { describe, expect, it } from "vitest";
import { lastBytes, LogTail } from "./log-tail.js";

describe("LogTail", () => {
  it("keeps the last lines of text that arrives in pieces", () => {
    const tail = new LogTail(2, 1024);
    for (const chunk of ["one\ntw", "o\nthree", "\nfour\n"]) tail.append(chunk);
    expect(tail.tail()).toBe("three\nfour");
  });

  it("shows a progress bar's last state, as a terminal would", () => {
    const tail = new LogTail(5, 1024);
    tail.append("loading\r\n 10%\r 50%\r100%\ndone\r\n");
    expect(tail.tail()).toBe("loading\n100%\ndone");
  });

  it("caps the tail in bytes and keeps memory bounded for huge output", () => {
    const tail = new LogTail(1000, 64);
    for (let index = 0; index < 10_000; index++) tail.append(`line ${index}\n`);
    const text = tail.tail();
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(64);
    expect(text.endsWith("line 9999")).toBe(true);
  });
});

describe("lastBytes", () => {
  it("never cuts a character in half", () => {
    expect(lastBytes("aé€😀", 5)).toBe("😀");
    expect(lastBytes("aé€😀", 8)).toBe("€😀");
    expect(lastBytes("short", 10)).toBe("short");
  });
});
