// Strict command-line parsing over citty's argument definitions: unknown options are errors.
import type { ArgsDef } from "citty";
import { badOption, NsboxError } from "./errors.ts";

export interface ParsedCommandLine {
  /** Option values by definition name; repeatable options collect arrays. */
  values: Record<string, string | boolean | string[]>;
  /** The command and its arguments (everything after `--`, or from the first non-option). */
  command: string[];
}

/**
 * `nsbox [options] -- command [args…]`. Options may be `--name value` or `--name=value`;
 * the first argument that is not an option also starts the command, so `nsbox bash` works.
 */
export function parseCommandLine(argv: string[], defs: ArgsDef, repeatable: Set<string>): ParsedCommandLine {
  const byFlag = new Map<string, string>();
  for (const [name, def] of Object.entries(defs)) {
    byFlag.set(name.length === 1 ? `-${name}` : `--${name}`, name);
    for (const alias of [def.alias ?? []].flat()) byFlag.set(alias.length === 1 ? `-${alias}` : `--${alias}`, name);
  }
  const values: ParsedCommandLine["values"] = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return { values, command: argv.slice(i + 1) };
    if (!arg.startsWith("-") || arg === "-") break;
    const eq = arg.indexOf("=");
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const name = byFlag.get(flag);
    if (!name) throw new NsboxError("BAD_OPTION", `unknown option ${flag} (see nsbox --help)`, { option: flag });
    const def = defs[name]!;
    if (def.type === "boolean") {
      if (eq > 0) throw badOption(flag, "takes no value");
      values[name] = true;
      continue;
    }
    let value: string;
    if (eq > 0) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && argv[i + 1] !== "--") value = argv[++i]!;
    else throw badOption(flag, `needs a value${def.valueHint ? ` (${def.valueHint})` : ""}`);
    if (repeatable.has(name)) values[name] = [...((values[name] as string[]) ?? []), value];
    else if (values[name] !== undefined) throw badOption(flag, "given more than once");
    else values[name] = value;
  }
  return { values, command: argv.slice(i) };
}
