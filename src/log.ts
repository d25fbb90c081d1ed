// Messages to the user through consola, loaded only when there is something to say (it costs
// more to import than a whole sandbox takes to start).
import type { ConsolaInstance } from "consola";
import { writeSync } from "node:fs";
import { ownEntry } from "./packages.ts";

let instance: ConsolaInstance | undefined;
let loading: Promise<ConsolaInstance> | undefined;
let level = 3;

/**
 * Control characters escaped, newline included: messages quote the project's text (names, paths,
 * values), and a newline in one would print a line of its own that looks like nsbox's. So are the
 * bidirectional overrides and isolates and the Unicode line separators: a terminal that lays out
 * bidirectional text showed `"~" wr` reversed from a name holding U+202E.
 */
export const printable = (s: string) => s.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** Set once write(2) to descriptor 2 failed: from then on every line goes through process.stderr, in order. */
let throughStream = false;

// Every line is escaped here, warnings and verbose steps too, not only errors. Written with
// write(2): process.stderr loads node:stream, which costs more than a whole sandbox takes to
// start. When write(2) fails (descriptor 2 left non-blocking by whoever started nsbox, a reader
// that went away), the rest goes through the stream as before, which waits or ends quietly.
const write = (line: string) => {
  let rest = Buffer.from(`nsbox: ${printable(line)}\n`);
  if (!throughStream) {
    try {
      while (rest.length > 0) rest = rest.subarray(writeSync(2, rest));
      return;
    } catch {
      throughStream = true;
    }
  }
  process.stderr.write(rest);
};
/** Without consola (it could not be loaded: no descriptor left to read it), messages go straight to descriptor 2. */
const direct = (line: string) => {
  try {
    writeSync(2, `nsbox: ${printable(line)}\n`);
  } catch {}
};
const plain = { error: direct, warn: direct, debug: direct } as unknown as ConsolaInstance;

/** One instance, loaded once: messages logged while it loads keep their order. */
function consola(): Promise<ConsolaInstance> {
  // By the absolute path found before any sandbox started, never by name (src/packages.ts).
  loading ??= Promise.resolve().then(() => import(ownEntry("consola")) as Promise<typeof import("consola")>).then(
    ({ createConsola }) => {
      instance = createConsola({
        level,
        reporters: [{ log: (o) => write(o.args.map(String).join(" ")) }],
      });
      return instance;
    },
    () => (instance = plain),
  );
  return loading;
}

export const log = {
  /** 4 shows debug messages (--verbose). */
  setLevel(n: number) {
    level = n;
    if (instance) instance.level = n;
    if (n >= 4) void consola(); // verbose: have it ready before the steps start
  },
  get verbose() {
    return level >= 4;
  },
  /** Wait until everything logged so far is written (before process.exit). */
  flush: async () => {
    if (loading) await loading;
  },
  error: async (msg: string) => (await consola()).error(msg),
  warn: async (msg: string) => (await consola()).warn(msg),
  debug: async (msg: string) => {
    if (level >= 4) (await consola()).debug(msg);
  },
};
