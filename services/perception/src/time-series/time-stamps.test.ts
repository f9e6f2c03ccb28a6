import { describe, expect, it } from "vitest";
import { frequencyOf, parseTimeStamp } from "./time-stamps.js";

const day = (text: string) => parseTimeStamp(text)!;
const DAY = 86_400_000;

describe("parseTimeStamp", () => {
  it("reads year-first dates and times as UTC wall-clock time", () => {
    expect(parseTimeStamp("2024-03-01")).toBe(Date.UTC(2024, 2, 1));
    expect(parseTimeStamp("2024/3/1 14:30")).toBe(Date.UTC(2024, 2, 1, 14, 30));
    expect(parseTimeStamp("2024-03-01T14:30:15Z")).toBe(Date.UTC(2024, 2, 1, 14, 30, 15));
  });

  it("leaves out year-last dates, impossible days and non-text", () => {
    expect(parseTimeStamp("01/03/2024")).toBeUndefined();
    expect(parseTimeStamp("2023-02-29")).toBeUndefined();
    expect(parseTimeStamp(20240301)).toBeUndefined();
  });
});

describe("frequencyOf", () => {
  it("names fixed steps as pandas offset aliases and counts steps", () => {
    const daily = frequencyOf(DAY, [day("2024-01-01"), day("2024-01-02")])!;
    expect(daily.alias).toBe("D");
    expect(daily.steps(day("2024-01-02"), day("2024-01-16"))).toBe(14);
    expect(frequencyOf(3 * DAY, [0])?.alias).toBe("3D");
    expect(frequencyOf(3_600_000, [0])?.alias).toBe("h");
    expect(frequencyOf(900_000, [0])?.alias).toBe("15min");
    expect(frequencyOf(7 * DAY, [day("2024-01-07"), day("2024-01-14")])?.alias).toBe("W-SUN");
  });

  it("tells month, quarter and year starts from ends, and counts calendar steps", () => {
    const monthly = frequencyOf(31 * DAY, [day("2024-01-01"), day("2024-02-01")])!;
    expect(monthly.alias).toBe("MS");
    expect(monthly.steps(day("2024-01-01"), day("2024-07-01"))).toBe(6);
    expect(frequencyOf(29 * DAY, [day("2024-01-31"), day("2024-02-29")])?.alias).toBe("ME");
    expect(frequencyOf(91 * DAY, [day("2024-01-01"), day("2024-04-01")])?.alias).toBe("QS");
    expect(frequencyOf(366 * DAY, [day("2023-12-31"), day("2024-12-31")])?.alias).toBe("YE");
    expect(frequencyOf(31 * DAY, [day("2024-01-15"), day("2024-02-15")])).toBeUndefined();
  });
});
