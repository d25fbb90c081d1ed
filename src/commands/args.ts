// Arguments of the operations subcommands (ps, inspect, stop, exec, doctor): their own options anywhere before `--`, strict like the main command line.
import { badOption, NsboxError } from "../errors.ts";

export interface SubFlag {
  type: "string" | "boolean";
  alias?: string;
  repeatable?: boolean;
}

export interface SubArgs {
  /** Option values by name (repeatable ones collect every value). */
  flags: Map<string, string | boolean | string[]>;
  positional: string[];
  /** What follows `--`, or from the first argument after `commandAfter` positional ones. */
  command: string[];
}

/**
 * `usage` is printed in errors, and for --help (then the process exits 0). Options given before the subcommand (`nsbox --json ps`) arrive
 * in `outer` and count too. With `commandAfter: n`, the first argument after n positional ones
 * starts the command even without `--` (`nsbox exec NAME cmd`).
 */
export function parseSubArgs(
  args: string[],
  defs: Record<string, SubFlag>,
  usage: string,
  outer: Map<string, string | boolean> = new Map(),
  commandAfter?: number,
): SubArgs {
  const flags: SubArgs["flags"] = new Map();
  for (const [name, value] of outer) if (defs[name]) flags.set(name, defs[name].repeatable ? [String(value)] : value);
  const byFlag = new Map<string, string>();
  for (const [name, def] of Object.entries(defs)) {
    byFlag.set(`--${name}`, name);
    if (def.alias) byFlag.set(`-${def.alias}`, name);
  }
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return { flags, positional, command: args.slice(i + 1) };
    if (!arg.startsWith("-") || arg === "-") {
      if (commandAfter !== undefined && positional.length === commandAfter) return { flags, positional, command: args.slice(i) };
      positional.push(arg);
      continue;
    }
    if (arg === "--help" || arg === "-h") {
      process.stdout.write(`usage: ${usage}\n`);
      process.exit(0);
    }
    const eq = arg.indexOf("=");
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const name = byFlag.get(flag);
    if (!name) throw new NsboxError("BAD_OPTION", `unknown option ${flag} (usage: ${usage})`, { option: flag });
    const def = defs[name]!;
    if (def.type === "boolean") {
      if (eq > 0) throw badOption(flag, "takes no value");
      flags.set(name, true);
      continue;
    }
    let value: string;
    if (eq > 0) value = arg.slice(eq + 1);
    else if (i + 1 < args.length && args[i + 1] !== "--") value = args[++i]!;
    else throw badOption(flag, "needs a value");
    if (def.repeatable) flags.set(name, [...((flags.get(name) as string[] | undefined) ?? []), value]);
    else flags.set(name, value);
  }
  return { flags, positional, command: [] };
}
