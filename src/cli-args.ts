// The one command-line parser, for nsbox and every subcommand: the words are split as node:util
// parseArgs splits them (tokens keep the order across options, which mounts need), then checked
// against a citty-style command definition; "the first non-option starts the command".
import { readFileSync, realpathSync } from "node:fs";
import { badOption, NsboxError } from "./errors.ts";
import type { SandboxOptions } from "./options.ts";

/** One option or positional argument of a command (citty's `args` shape). */
export interface ArgDef {
  type: "string" | "boolean" | "positional";
  description: string;
  /** One letter: `-v` for `--verbose`. */
  alias?: string;
  valueHint?: string;
  /** An option: may be given more than once, every value kept in order. A positional: takes the rest (NAME…). */
  repeatable?: boolean;
  /** A positional that must be there. */
  required?: boolean;
}

/** An option as the user gave it: its definition name, its value, and the flag as typed (`--ro`, `-v`). */
export interface Given {
  name: string;
  value: string | boolean;
  flag: string;
}

/** What a command's `run` gets. */
export interface CommandContext {
  /** Options and positionals by name: a string or true, a list for repeatable ones. */
  args: Record<string, string | boolean | string[] | undefined>;
  /** The options in the order given, those written before the subcommand first. */
  given: Given[];
  /** What follows the positionals (commands with `command`). */
  command: string[];
  /** The sandbox options among `given`, through the same pass as `nsbox [options] -- …` (exec). */
  options(): SandboxOptions;
}

/** A command, citty-style. */
export interface CommandDef {
  meta: { name: string; description: string };
  args: Record<string, ArgDef>;
  /** The first argument after the positionals starts a command to run (`--` too). */
  command?: { valueHint: string; description: string };
  subCommands?: Record<string, () => Promise<CommandDef>>;
  run?(ctx: CommandContext): number | Promise<number>;
}

/** Every command takes -h/--help. */
export const HELP: ArgDef = { type: "boolean", alias: "h", description: "Show this help" };

export interface Parsed {
  given: Given[];
  positionals: string[];
  /** The command and its arguments (after `--`, or from the first argument past the positionals). */
  command: string[];
  /** `--` ended the options. */
  terminated: boolean;
}

/** A token of node:util parseArgs (`tokens: true`). */
export type Token =
  | { kind: "option"; name: string; rawName: string; index: number; value?: string; inlineValue?: boolean }
  | { kind: "positional"; index: number; value: string }
  | { kind: "option-terminator"; index: number };

/**
 * node:util `parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true }).tokens`,
 * the same algorithm written out: importing node:util costs 1-4 ms of every start
 * (measured; see tests/cli-args.test.ts, which holds the two to the same tokens).
 */
export function tokenize(args: string[], options: Record<string, { type: "string" | "boolean"; short?: string }>): Token[] {
  const tokens: Token[] = [];
  const long = (short: string) => Object.keys(options).find((name) => options[name]!.short === short) ?? short;
  const isString = (name: string) => Object.hasOwn(options, name) && options[name]!.type === "string";
  let index = 0;
  /** `--name` or `-n` as a word of its own: a string option takes the next word. */
  const lone = (name: string, rawName: string, at: number) => {
    if (isString(name) && index + 1 < args.length) tokens.push({ kind: "option", name, rawName, index: at, value: args[++index]!, inlineValue: false });
    else tokens.push({ kind: "option", name, rawName, index: at, value: undefined, inlineValue: undefined });
  };
  for (; index < args.length; index++) {
    const arg = args[index]!;
    const at = index;
    if (arg === "--") {
      tokens.push({ kind: "option-terminator", index });
      for (let i = index + 1; i < args.length; i++) tokens.push({ kind: "positional", index: i, value: args[i]! });
      break;
    }
    if (arg.length === 2 && arg[0] === "-" && arg[1] !== "-") lone(long(arg[1]!), arg, at);
    else if (arg.length > 2 && arg[0] === "-" && arg[1] !== "-") {
      if (isString(long(arg[1]!))) tokens.push({ kind: "option", name: long(arg[1]!), rawName: `-${arg[1]}`, index, value: arg.slice(2), inlineValue: true });
      else {
        // -vp: -v then -p, at this index; a string option's value is the rest of the group (-vpci) or the next word.
        for (let i = 1; i < arg.length; i++) {
          const name = long(arg[i]!);
          if (!isString(name) || i === arg.length - 1) lone(name, `-${arg[i]}`, at);
          else {
            tokens.push({ kind: "option", name, rawName: `-${arg[i]}`, index: at, value: arg.slice(i + 1), inlineValue: true });
            break;
          }
        }
      }
    } else if (arg.length > 2 && arg.startsWith("--")) {
      // `--name=value`; a name that starts with `=` is all name (`--=x`).
      const eq = arg.indexOf("=");
      if (eq <= 2) lone(arg.slice(2), arg, at);
      else tokens.push({ kind: "option", name: arg.slice(2, eq), rawName: arg.slice(0, eq), index, value: arg.slice(eq + 1), inlineValue: true });
    } else tokens.push({ kind: "positional", index, value: arg });
  }
  return tokens;
}

const options = (cmd: CommandDef) => Object.entries(cmd.args).filter(([, d]) => d.type !== "positional");
const positionals = (cmd: CommandDef) => Object.entries(cmd.args).filter(([, d]) => d.type === "positional");

/**
 * `nsbox exec [--chdir DIR] [--env NAME=VALUE]… [-v|--verbose] NAME [--] command [args…]`, from
 * the definition. Up to four options are listed; more read `[options]`.
 */
export function usageLine(cmd: CommandDef, path: string): string {
  const opts = options(cmd).filter(([name]) => name !== "help");
  const flags = opts.length > 4
    ? ["[options]"]
    : opts.map(([name, d]) => `[${d.alias ? `-${d.alias}|` : ""}--${name}${d.type === "string" ? ` ${d.valueHint ?? "VALUE"}` : ""}]${d.repeatable ? "…" : ""}`);
  const words = positionals(cmd).map(([name, d]) => {
    const hint = d.valueHint ?? name.toUpperCase();
    return d.required ? `${hint}${d.repeatable ? "…" : ""}` : `[${hint}]${d.repeatable ? "…" : ""}`;
  });
  if (cmd.command) words.push(`[--] ${cmd.command.valueHint}`);
  else if (cmd.subCommands) words.push("COMMAND …");
  // Options come before a command to run; elsewhere they may come anywhere, and read better last.
  return [path, ...(cmd.command || cmd.subCommands ? [...flags, ...words] : [...words, ...flags])].join(" ");
}

/**
 * Parse `argv` against `cmd`. `outer` are options given before the subcommand's name (already
 * checked to apply to it). Options may come anywhere before `--`, except that with
 * `cmd.command` (or subcommands) the first argument past the positionals starts the command.
 * Throws NsboxError BAD_OPTION naming the option as typed; never exits.
 */
export function parseArgv(argv: string[], cmd: CommandDef, path: string, outer: Given[] = []): Parsed {
  const defs = Object.fromEntries(options(cmd));
  const config: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const [name, d] of Object.entries(defs)) config[name] = d.alias ? { type: d.type as "string", short: d.alias } : { type: d.type as "string" };
  const tokens = tokenize(argv, config);
  const stopAfter = cmd.command || cmd.subCommands ? positionals(cmd).length : Infinity;
  const see = path === "nsbox" ? "see nsbox --help" : `usage: ${usageLine(cmd, path)}`;
  const given = [...outer];
  const found: string[] = [];
  for (const t of tokens) {
    if (t.kind === "option-terminator") {
      if (stopAfter === Infinity) {
        found.push(...argv.slice(t.index + 1));
        break;
      }
      return { given, positionals: found, command: argv.slice(t.index + 1), terminated: true };
    }
    if (t.kind === "positional") {
      if (found.length === stopAfter) return { given, positionals: found, command: argv.slice(t.index), terminated: false };
      found.push(t.value);
      continue;
    }
    // `-help`, `-profile ci`: a long option typed with one dash, which would read as short ones
    // (-h -e -l -p, or -p with the value "rofile").
    const whole = argv[t.index]!;
    const single = /^-[^-]/.test(whole) && whole.length > 2 ? whole.slice(1).split("=")[0]! : "";
    if (single.length > 1 && Object.hasOwn(defs, single)) {
      throw new NsboxError("BAD_OPTION", `unknown option ${whole.split("=")[0]} (did you mean --${single}? ${see})`, { option: whole });
    }
    const def = Object.hasOwn(defs, t.name) ? defs[t.name]! : undefined;
    if (!def) {
      const other = t.rawName.startsWith("--") ? otherSpelling(t.name, t.value ?? nextValue(argv, t.index), defs) : undefined;
      const near = other ?? (t.rawName.startsWith("--") ? nearest(t.name, Object.keys(defs)) : undefined);
      throw new NsboxError("BAD_OPTION", `unknown option ${t.rawName} (${near !== undefined ? `did you mean ${other ?? `--${near}`}? ` : ""}${see})`, { option: t.rawName });
    }
    let value: string | boolean;
    if (def.type === "boolean") {
      if (t.value !== undefined) throw badOption(t.rawName, "takes no value");
      value = true;
    } else {
      // The split takes a following `--` as the value; here it ends the options, as it reads.
      if (t.value === undefined || (t.value === "--" && !t.inlineValue)) throw badOption(t.rawName, `needs a value${def.valueHint ? ` (${def.valueHint})` : ""}`);
      value = t.value;
    }
    // A switch given twice (-vv) says the same thing twice; a value given twice would leave one unused.
    if (!def.repeatable && given.some((g) => g.name === t.name)) {
      if (def.type === "boolean") continue;
      throw badOption(t.rawName, "given more than once");
    }
    given.push({ name: t.name, value, flag: t.rawName });
  }
  return { given, positionals: found, command: [], terminated: false };
}

/** The options and positionals by name, as `CommandContext.args` has them; checks the positionals' number. */
export function argsOf(cmd: CommandDef, path: string, parsed: Parsed): CommandContext["args"] {
  const args: CommandContext["args"] = {};
  for (const { name, value } of parsed.given) {
    if (cmd.args[name]?.repeatable) args[name] = [...((args[name] as string[] | undefined) ?? []), String(value)];
    else args[name] = value;
  }
  const rest = [...parsed.positionals];
  for (const [name, d] of positionals(cmd)) {
    if (d.required && rest.length === 0) throw new NsboxError("BAD_OPTION", `${path}: missing ${d.valueHint ?? name.toUpperCase()} (usage: ${usageLine(cmd, path)})`);
    args[name] = d.repeatable ? rest.splice(0) : rest.shift();
  }
  if (rest.length) {
    // `nsbox ps aux` most likely meant the program: say how to run it.
    const words = path.split(" ");
    const program = words.length === 2 && words[0] === "nsbox" ? `; to run the program ${words[1]} in a sandbox: nsbox -- ${words[1]} ${parsed.positionals.join(" ")}` : "";
    throw new NsboxError("BAD_OPTION", `${path}: unexpected argument '${rest[0]}' (usage: ${usageLine(cmd, path)})${program}`);
  }
  return args;
}

/**
 * Other tools' names for nsbox's network options (Deno's --allow-net, bubblewrap's --share-net,
 * --unix-socket), as nsbox writes them: `--allow-net=example.com` meant `--net allow=example.com`.
 */
const OTHER_SPELLINGS: [RegExp, string, (value: string | undefined) => string][] = [
  [/^(allow-?net|net-?allow|allow-?hosts?|net-?allow-?hosts?)$/, "net", (v) => `--net allow=${v ?? "HOST"}`],
  [/^(no-?net(work)?|net-?none|offline|unshare-?net)$/, "net", () => "--net none (the default)"],
  [/^(share-?net|net-?host|host-?net(work)?)$/, "net", () => "--net host"],
  [/^(allow-?)?(unix-?)?sock(et)?s?$|^allow-?unix-?sockets?$/, "allow-socket", (v) => `--allow-socket ${v ?? "PATH"}`],
];

function otherSpelling(name: string, value: string | undefined, defs: Record<string, unknown>): string | undefined {
  const found = OTHER_SPELLINGS.find(([re, option]) => re.test(name.toLowerCase()) && Object.hasOwn(defs, option) && name !== option);
  return found?.[2](value);
}

/** The argument after an unknown option, when it reads as its value (not an option, not `--`). */
const nextValue = (argv: string[], index: number): string | undefined => {
  const next = argv[index + 1];
  return next !== undefined && !next.startsWith("-") ? next : undefined;
};

/** Edit distance (insert, delete, replace), for "did you mean". */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** The one of `known` a typo away from `name` (case, `-`/`_`, a longer word, or at most 2 edits), for "did you mean". */
export function nearest(name: string, known: Iterable<string>): string | undefined {
  const flat = (x: string) => x.toLowerCase().replace(/[-_]/g, "");
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    // `network` for `net`: the known name a word begins with.
    const d = flat(k) === flat(name) ? 0 : k.length >= 3 && flat(name).startsWith(flat(k)) ? 1 : editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance && d <= Math.min(2, k.length - 2)) [best, bestDistance] = [k, d];
  }
  return best;
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
    // Installed, the script is reached through a link (~/.bun/bin/nsbox, node_modules/.bin/nsbox)
    // and Bun reports its real path: compare real paths too.
    const real = (p: string) => {
      try {
        return realpathSync(p);
      } catch {
        return undefined;
      }
    };
    const scriptReal = real(script);
    const at = all.findIndex(
      (a, i) =>
        i > 0 &&
        (a === script ||
          ((a.includes("/") || a.endsWith(".ts")) && script.endsWith(a.replace(/^\.\//, ""))) ||
          (a.includes("/") && scriptReal !== undefined && real(a) === scriptReal)),
    );
    if (at < 0) return fallback;
    const args = all.slice(at + 1);
    // Only trust it when it is process.argv with one `--` more (or the same).
    const withoutFirst = args.indexOf("--") >= 0 ? [...args.slice(0, args.indexOf("--")), ...args.slice(args.indexOf("--") + 1)] : args;
    return JSON.stringify(withoutFirst) === JSON.stringify(fallback) || JSON.stringify(args) === JSON.stringify(fallback) ? args : fallback;
  } catch {
    return fallback;
  }
}
