// Messages to the user through consola, loaded only when there is something to say (it costs
// more to import than a whole sandbox takes to start).
import type { ConsolaInstance } from "consola";

let instance: ConsolaInstance | undefined;
let loading: Promise<ConsolaInstance> | undefined;
let level = 3;

/** One instance, loaded once: messages logged while it loads keep their order. */
function consola(): Promise<ConsolaInstance> {
  loading ??= import("consola").then(({ createConsola }) => {
    instance = createConsola({
      level,
      reporters: [{ log: (o) => process.stderr.write(`nsbox: ${o.args.map(String).join(" ")}\n`) }],
    });
    return instance;
  });
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
