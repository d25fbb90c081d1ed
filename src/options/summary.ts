// A sandbox's options in command-line words, for nsbox ps and inspect: generated from the option
// definitions (defs.ts), so a new option is summarised without a line here.
import type { SandboxOptions } from "../options.ts";
import { OPTION_DEFS } from "./defs.ts";
import { formatDuration } from "./duration.ts";

/** Options nsbox ps shows elsewhere (the name), or that say nothing about the sandbox (-v). */
const NOT_SHOWN = new Set<keyof SandboxOptions>(["name", "verbose"]);

/**
 * The options in command-line words, in the definitions' order, or "defaults":
 * `--hostname web1 --rw ./out --net host --env TOKEN=…`. Mounts are shown as they were
 * written (their `origin`); env values are left out (they may be secrets); a timeout is a
 * duration again.
 */
export function summarize(o: SandboxOptions): string {
  const words: string[] = [];
  const shown = new Set<keyof SandboxOptions>();
  for (const [flag, def] of OPTION_DEFS) {
    if (shown.has(def.key) || NOT_SHOWN.has(def.key)) continue;
    shown.add(def.key);
    const value = o[def.key];
    if (value === undefined || value === false) continue;
    if (def.key === "mounts") {
      for (const m of o.mounts ?? []) words.push(m.origin.startsWith("--") ? m.origin : `--${m.kind}${m.optional ? "-try" : ""} ${m.source !== undefined ? `${m.source}:` : ""}${m.target}`);
    } else if (def.key === "env") {
      for (const name of Object.keys(value)) words.push(`--${flag} ${name}=…`);
    } else if (def.key === "timeout") {
      words.push(`--${flag} ${formatDuration(value as number)}`);
    } else if (value === true) {
      words.push(`--${flag}`);
    } else {
      for (const v of Array.isArray(value) ? value : [value]) words.push(`--${flag} ${String(v)}`);
    }
  }
  return words.length ? words.join(" ") : "defaults";
}
