// src/options/duration.ts: durations within what a timer can honour.
import { describe, expect, it } from "bun:test";
import { checkMilliseconds, MAX_TIMEOUT_MS, parseDuration } from "../src/options/duration.ts";

describe("given a duration", () => {
  it("units and plain seconds (control)", () => {
    expect([parseDuration("500ms"), parseDuration("30s"), parseDuration("5m"), parseDuration("1h"), parseDuration("2"), parseDuration("1.5ms")]).toEqual([500, 30_000, 300_000, 3_600_000, 2000, 2]);
    expect(parseDuration("596h")).toBe(596 * 3_600_000);
    expect(checkMilliseconds(MAX_TIMEOUT_MS)).toBe(MAX_TIMEOUT_MS);
    expect(checkMilliseconds(1)).toBe(1);
  });

  it("beyond setTimeout's 2^31-1 ms (which fires at once) or below 1 ms (no timer at all): refused with the range", () => {
    for (const f of [() => parseDuration("597h"), () => checkMilliseconds(2 ** 31), () => checkMilliseconds(Infinity)]) expect(f).toThrow("2147483647ms");
    for (const f of [() => parseDuration("0.4ms"), () => parseDuration("0"), () => checkMilliseconds(0.4), () => checkMilliseconds(-5)]) expect(f).toThrow("shorter than 1ms");
    expect(() => parseDuration("5 min")).toThrow("must be a duration like 500ms, 30s, 5m or 1h");
  });
});
