import { describe, expect, it } from "vitest";

import { formatDuration, formatRelative, formatSeconds, formatSui, shortId } from "./format";

describe("formatDuration", () => {
  it("uses milliseconds below a second", () => {
    expect(formatDuration(0)).toBe("0 ms");
    expect(formatDuration(9)).toBe("9 ms");
    expect(formatDuration(999)).toBe("999 ms");
  });
  it("uses tenths of seconds below a minute", () => {
    expect(formatDuration(1000)).toBe("1.0 s");
    expect(formatDuration(4249)).toBe("4.2 s");
    expect(formatDuration(59_940)).toBe("59.9 s");
    expect(formatDuration(59_960)).toBe("1 min 00 s");
  });
  it("uses minutes and hours above", () => {
    expect(formatDuration(60_000)).toBe("1 min 00 s");
    expect(formatDuration(185_000)).toBe("3 min 05 s");
    expect(formatDuration(3_600_000)).toBe("1 h 00 min");
    expect(formatDuration(3_725_000)).toBe("1 h 02 min");
  });
  it("shows a dash for nothing or nonsense", () => {
    expect(formatDuration(null)).toBe("—");
    expect(formatDuration(undefined)).toBe("—");
    expect(formatDuration(-1)).toBe("—");
    expect(formatDuration(Number.NaN)).toBe("—");
  });
  it("formats seconds the same way", () => {
    expect(formatSeconds(0.179)).toBe("179 ms");
    expect(formatSeconds(3.697)).toBe("3.7 s");
    expect(formatSeconds(null)).toBe("—");
  });
});

describe("formatRelative", () => {
  const now = 1_800_000_000_000;
  it("rounds to the largest unit", () => {
    expect(formatRelative(now - 1000, now)).toBe("just now");
    expect(formatRelative(now - 42_000, now)).toBe("42 s ago");
    expect(formatRelative(now - 5 * 60_000, now)).toBe("5 min ago");
    expect(formatRelative(now - 3 * 3_600_000, now)).toBe("3 h ago");
    expect(formatRelative(now - 2 * 86_400_000, now)).toBe("2 d ago");
    expect(formatRelative(now + 10 * 60_000, now)).toBe("in 10 min");
  });
});

describe("shortId and formatSui", () => {
  it("shortens long ids only", () => {
    expect(shortId("0x" + "ab".repeat(32))).toBe("0xabab…abab");
    expect(shortId("0x1234")).toBe("0x1234");
  });
  it("shows MIST as SUI", () => {
    expect(formatSui(10_000_000)).toMatch(/^0[.,]01 SUI$/);
  });
});
