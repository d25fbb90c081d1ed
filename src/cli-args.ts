// The one command-line parser, for nsbox and every subcommand: node:util parseArgs splits the
// words (tokens keep the order across options, which mounts need); this file checks them against
// a citty-style command definition and keeps "the first non-option starts the command".
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
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
  const { tokens } = parseArgs({ args: argv, options: config, strict: false, allowPositionals: true, tokens: true });
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
    const def = Object.hasOwn(defs, t.name) ? defs[t.name]! : undefined;
    if (!def) throw new NsboxError("BAD_OPTION", `unknown option ${t.rawName} (${see})`, { option: t.rawName });
    let value: string | boolean;
    if (def.type === "boolean") {
      if (t.value !== undefined) throw badOption(t.rawName, "takes no value");
      value = true;
    } else {
      // parseArgs takes a following `--` as the value; here it ends the options, as it reads.
      if (t.value === undefined || (t.value === "--" && !t.inlineValue)) throw badOption(t.rawName, `needs a value${def.valueHint ? ` (${def.valueHint})` : ""}`);
      value = t.value;
    }
    if (!def.repeatable && given.some((g) => g.name === t.name)) throw badOption(t.rawName, "given more than once");
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
  if (rest.length) throw new NsboxError("BAD_OPTION", `${path}: unexpected argument '${rest[0]}' (usage: ${usageLine(cmd, path)})`);
  return args;
}

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
