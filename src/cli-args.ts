// Strict command-line parsing: unknown options are errors, and values keep the order given.
import { readFileSync } from "node:fs";
import { badOption, NsboxError } from "./errors.ts";

export interface FlagDef {
  type: "string" | "boolean";
  alias?: string;
  valueHint?: string;
  repeatable?: boolean;
}

export interface ParsedCommandLine {
  /** Options in the order given, by definition name. */
  given: [name: string, value: string | boolean][];
  /** The command and its arguments (everything after `--`, or from the first non-option). */
  command: string[];
}

/**
 * `nsbox [options] -- command [args…]`. Options may be `--name value` or `--name=value`;
 * the first argument that is not an option also starts the command, so `nsbox bash` works.
 */
export function parseCommandLine(argv: string[], defs: Record<string, FlagDef>): ParsedCommandLine {
  const byFlag = new Map<string, string>();
  for (const [name, def] of Object.entries(defs)) {
    byFlag.set(`--${name}`, name);
    if (def.alias) byFlag.set(def.alias.length === 1 ? `-${def.alias}` : `--${def.alias}`, name);
  }
  const given: ParsedCommandLine["given"] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return { given, command: argv.slice(i + 1) };
    if (!arg.startsWith("-") || arg === "-") break;
    const eq = arg.indexOf("=");
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const name = byFlag.get(flag);
    if (!name) throw new NsboxError("BAD_OPTION", `unknown option ${flag} (see nsbox --help)`, { option: flag });
    const def = defs[name]!;
    if (def.type === "boolean") {
      if (eq > 0) throw badOption(flag, "takes no value");
      given.push([name, true]);
      continue;
    }
    let value: string;
    if (eq > 0) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && argv[i + 1] !== "--") value = argv[++i]!;
    else throw badOption(flag, `needs a value${def.valueHint ? ` (${def.valueHint})` : ""}`);
    if (!def.repeatable && given.some(([n]) => n === name)) throw badOption(flag, "given more than once");
    given.push([name, value]);
  }
  return { given, command: argv.slice(i) };
}

/**
 * The arguments after the script, as the kernel passed them. Bun drops the first `--` from
 * process.argv, which would make `nsbox -- --version` print the version instead of running a
 * program named --version; /proc/self/cmdline still has it.
 */
export function realArgv(): string[] {
  const fallback = process.argv.slice(2);
  try {
    const all = readFileSync("/proc/self/cmdline", "utf8").split("\0").slice(0, -1);
    const script = process.argv[1]!;
    const at = all.findIndex((a, i) => i > 0 && (a === script || (a.includes("/") || a.endsWith(".ts")) && script.endsWith(a.replace(/^\.\//, ""))));
    if (at < 0) return fallback;
    const args = all.slice(at + 1);
    // Only trust it when it is process.argv with one `--` more (or the same).
    const withoutFirst = args.indexOf("--") >= 0 ? [...args.slice(0, args.indexOf("--")), ...args.slice(args.indexOf("--") + 1)] : args;
    return JSON.stringify(withoutFirst) === JSON.stringify(fallback) || JSON.stringify(args) === JSON.stringify(fallback) ? args : fallback;
  } catch {
    return fallback;
  }
}
