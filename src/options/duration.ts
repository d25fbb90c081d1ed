// Durations: `--timeout 30s` on the command line, `"timeout": "5m"` or seconds in a config file, milliseconds in the library.
import { expected, problem } from "./problem.ts";

/**
 * The longest timer nsbox can set: setTimeout's delay is a signed 32-bit count of milliseconds,
 * and a longer one fires at once (Node and Bun warn "TimeoutOverflowWarning" and use 1 ms), which
 * killed the sandbox at start. Refused rather than shortened.
 */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

const RANGE = `1ms to ${MAX_TIMEOUT_MS}ms, about 24.8 days`;

/** "500ms", "30s", "5m", "1h", or plain seconds → whole milliseconds, within the range a timer can honour. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (!m) throw expected("a duration like 500ms, 30s, 5m or 1h");
  return checkMilliseconds(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "s"]);
}

/**
 * A number of milliseconds as the library gives it (Bun.spawn's unit), rounded to whole ones.
 * Below 1 ms (0.4ms rounded to no timer at all) or beyond the timer's range is refused.
 */
export function checkMilliseconds(ms: number): number {
  if (!Number.isFinite(ms)) throw expected(`a number of milliseconds (${RANGE})`);
  const whole = Math.round(ms);
  if (whole < 1) throw problem(`is shorter than 1ms, the shortest timeout (the range is ${RANGE})`);
  if (whole > MAX_TIMEOUT_MS) throw problem(`is longer than the longest timeout nsbox can set (the range is ${RANGE})`);
  return whole;
}

/** A duration as the command line would write it back ("30s", "500ms"). */
export function formatDuration(ms: number): string {
  return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`;
}
