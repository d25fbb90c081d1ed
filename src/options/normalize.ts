// The one normalisation pass: command line, profiles, project config and the library's options
// object all become one checked SandboxOptions with its resolved values (network rules, limits,
// capabilities, filter choice) that the plan takes as they are.
import { NsboxError } from "../errors.ts";
import { PINNED_FILES, type Pinned, type SandboxOptions } from "../options.ts";
import { keptCapabilities, parseRlimit } from "../plan/privileges.ts";
import { nearest } from "../cli-args.ts";
import { OPTION_DEFS, optionDef } from "./defs.ts";
import { foldNet, parseNetValue, type NetSpec } from "./net.ts";
import { attribute, expected, originText, Problem, problem, type Origin } from "./problem.ts";

/** Where messages about config files go (the CLI's log, the library's stderr). */
export type Warn = (message: string) => void;

/** Values parsed from the options, for the plan: nothing here is parsed again. */
export interface Resolved {
  /** The network: none, host, or allow= with its parsed rules (and @registries, which the plan expands from the host). */
  net: NetSpec;
  /** --rlimit values in order, parsed (core=0 is added by the plan unless set). */
  rlimits: ReturnType<typeof parseRlimit>[];
  /** The capabilities the payload keeps: --cap-add less --cap-drop. */
  caps: ReturnType<typeof keptCapabilities>;
  /** The syscall filter: the built-in one, none, or a file (read by the plan: its content is the host's). */
  seccomp: { kind: "default" } | { kind: "none" } | { kind: "file"; path: string };
}

/** The resolved values, under a symbol: JSON (the registry's state, profile show) never carries them. */
export const RESOLVED = Symbol("nsbox.resolved");
/** Where each SandboxOptions key was last set, for messages about two options together. */
const ORIGINS = Symbol("nsbox.origins");

/** Options that went through normalize: every value checked, every derived value resolved. */
export type NormalOptions = SandboxOptions & { readonly [RESOLVED]: Resolved };
type Tracked = SandboxOptions & { [ORIGINS]?: Map<string, Origin>; [RESOLVED]?: Resolved };

/** One option of the command line as the parser hands it over: definition name, value, the flag as typed. */
export interface CommandLineOption {
  name: string;
  value: string | boolean;
  flag: string;
}

function track(o: Tracked, key: string, origin: Origin): void {
  (o[ORIGINS] ??= new Map()).set(key, origin);
}

function attributed<T>(origin: Origin, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof Problem) throw attribute(origin, e);
    throw e;
  }
}

/**
 * Apply one value as a profile or config file writes it: a string, a number (only where the
 * option takes one: uid, gid, timeout in seconds, memory, pids), a boolean, or a list for a
 * repeatable option. `where` names the file and key ("/p/nsbox.json: profiles.ci.net"); `base`
 * is the directory relative paths start from.
 */
export function applyConfigValue(o: SandboxOptions, name: string, value: unknown, where: string, base?: string): void {
  const def = optionDef(name);
  if (!def) {
    const near = nearest(name, OPTION_DEFS.keys());
    throw new NsboxError("BAD_OPTION", `${where}: unknown option${near !== undefined ? ` (did you mean "${near}"?)` : ""}`);
  }
  const values = Array.isArray(value) && def.repeatable ? value : [value];
  for (const v of values) {
    const origin: Origin = { from: "config", where, value: v };
    attributed(origin, () => {
      if (def.type === "boolean" && typeof v !== "boolean") throw expected("true or false");
      if (def.type === "string" && typeof v !== "string" && !(def.numeric && typeof v === "number")) {
        // `"landlock": false` is told the words it takes, not only their type.
        const words = def.valueHint?.split("|");
        const choice = words && words.length > 1 && words.every((w) => /^[a-z]+$/.test(w)) ? words.map((w) => JSON.stringify(w)).join(" or ") : undefined;
        throw expected(def.numeric ? "a string or a number" : def.repeatable ? "a string or a list of strings" : choice ?? "a string");
      }
      def.add(o, typeof v === "number" ? String(v) : (v as string | boolean), { base, origin: `${where} ${JSON.stringify(v)}` });
    });
    track(o, def.key, origin);
  }
}

/** Apply the command line's options in order on top of `o` (a profile's, or nothing). Other names (the CLI's own flags) are skipped. */
export function applyCommandLine(o: SandboxOptions, given: readonly CommandLineOption[]): void {
  for (const { name, value, flag } of given) {
    const def = optionDef(name);
    if (!def) continue;
    const origin: Origin = { from: "cli", flag, text: String(value) };
    attributed(origin, () => def.add(o, value, { origin: typeof value === "string" ? `${flag} ${value}` : flag }));
    track(o, def.key, origin);
  }
}

/** Options of the library that are not sandbox options (spawn/run's own). */
export const LIBRARY_ONLY = ["profile", "stdin", "stdout", "stderr", "signal", "encoding"] as const;

/** The library's checks (library.ts), loaded only for the library: the command line never needs them. */
const libraryChecks = (): typeof import("./library.ts").LIBRARY_CHECKS => (require("./library.ts") as typeof import("./library.ts")).LIBRARY_CHECKS;

/** What a misspelt key most likely meant, for the message. */
function meant(key: string): string {
  const lower = key.toLowerCase().replace(/[-_]/g, "");
  const known = [...libraryChecks().keys()].find((k) => k.toLowerCase() === lower);
  if (known) return `: did you mean \`${known}\`?`;
  const def = optionDef(key) ?? optionDef(key.replace(/([A-Z])/g, "-$1").toLowerCase());
  if (def?.key === "mounts") return `: filesystem options are \`mounts: [{ kind: "${key.replace(/Try$|-try$/, "")}", source, target }]\``;
  if (def) return `: the library's name for it is \`${def.key}\``;
  return "";
}

/**
 * Check the library's options object: every key known, every value of its type and checked
 * (a misspelt `timeOut` or `landlock: "yes"` ignored would fail open). Returns the sandbox
 * options alone, copied.
 */
export function checkLibraryOptions(options: unknown): SandboxOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new NsboxError("BAD_OPTION", `The options must be an object, got ${Array.isArray(options) ? "a list" : typeof options}`, { option: "options" });
  }
  const o: Tracked = {};
  for (const [key, value] of Object.entries(options)) {
    if ((LIBRARY_ONLY as readonly string[]).includes(key)) continue;
    const check = libraryChecks().get(key as keyof SandboxOptions);
    if (!check) {
      throw new NsboxError("BAD_OPTION", `Unknown option \`${key}\`${meant(key)} (known: ${[...libraryChecks().keys(), ...LIBRARY_ONLY].join(", ")})`, { option: key });
    }
    // An explicit undefined is the default, as if the key were not there.
    if (value === undefined) continue;
    const origin: Origin = { from: "library", key, value };
    (o as Record<string, unknown>)[key] = attributed(origin, () => check(value));
    track(o, key, origin);
  }
  return o;
}

/** `top` on `base`: lists appended, env merged, every other value replaced. */
export function mergeOptions(base: SandboxOptions, top: SandboxOptions): SandboxOptions {
  const merged: Tracked = { ...base };
  const origins = new Map([...((base as Tracked)[ORIGINS] ?? []), ...((top as Tracked)[ORIGINS] ?? [])]);
  delete merged[RESOLVED];
  for (const [key, value] of Object.entries(top)) {
    const b = (merged as Record<string, unknown>)[key];
    if (Array.isArray(b) && Array.isArray(value)) (merged as Record<string, unknown>)[key] = [...b, ...value];
    else if (key === "env") merged.env = Object.assign(Object.create(null), b, value);
    else (merged as Record<string, unknown>)[key] = value;
  }
  merged[ORIGINS] = origins;
  return merged;
}

/** The origin of key `key` as recorded, or the library's key. */
export function originOf(o: SandboxOptions, key: keyof SandboxOptions): Origin {
  return (o as Tracked)[ORIGINS]?.get(key) ?? { from: "library", key, value: o[key] };
}

/**
 * Where option `key` was written, as messages name it: `--net-log ./x`, `/p/nsbox.json:
 * profiles.ci.net-log "./x"`, or the library's `The \`netLog\` option "./x"`. For errors found
 * after normalisation (a file that can't be opened at the start).
 */
export function optionLabel(o: SandboxOptions, key: keyof SandboxOptions): string {
  const origin = originOf(o, key);
  return origin.from === "library" ? `The \`${key}\` option ${JSON.stringify(String(o[key]))}` : originText(origin);
}

/**
 * The values the plan needs, parsed from checked options. Options that did not come through
 * normalize (a test's literal, the registry's record of a running sandbox) are parsed here by
 * the same functions, with the library's wording.
 */
export function resolveOptions(o: SandboxOptions): Resolved {
  const seccomp = o.seccomp ?? "default";
  return {
    net: attributed(originOf(o, "net"), () => foldNet((o.net ?? []).map(parseNetValue))),
    rlimits: attributed(originOf(o, "rlimits"), () => (o.rlimits ?? []).map(parseRlimit)),
    caps: attributed(originOf(o, "capAdd"), () => keptCapabilities(o.capAdd, o.capDrop)),
    seccomp: seccomp === "default" || seccomp === "none" ? { kind: seccomp } : { kind: "file", path: seccomp },
  };
}

/**
 * `o` as normalize makes it: itself when it went through normalize, else checked as the
 * library's options are and resolved (a caller of buildPlan with its own object).
 */
export function ensureNormal(o: SandboxOptions): NormalOptions {
  if ((o as Tracked)[RESOLVED]) return o as NormalOptions;
  const checked = finish(checkLibraryOptions(o));
  // Policy files a trusted profile pinned (config.ts): kept with the options they belong to.
  if ((o as Pinned)[PINNED_FILES]) (checked as Pinned)[PINNED_FILES] = (o as Pinned)[PINNED_FILES];
  return checked;
}

/** The resolved values of `o`: those normalize attached, else parsed now. */
export function resolved(o: SandboxOptions): Resolved {
  return (o as Tracked)[RESOLVED] ?? resolveOptions(o);
}

/**
 * The last step of every layer's merge: checks that involve two options, then the resolved
 * values attached. Errors name the option as it was given (flag, file and key, or library key).
 */
export function finish(options: SandboxOptions): NormalOptions {
  // Own values only, in an object without a prototype: a polluted Object.prototype (`seccomp:
  // "none"`, `landlock: "off"` set there by a bug elsewhere in the caller's process) must not
  // read as the caller's choice when the plan asks for an option that was not given.
  const o = Object.assign(Object.create(null), options) as Tracked;
  const r = resolveOptions(o);
  // Only --net allow= logs (its proxy, and in transparent mode its decisions): with host nsbox
  // decides nothing; with none, what was blocked is said at exit (src/sandbox.ts opens no log).
  if (o.netLog !== undefined && r.net.mode !== "allow") {
    const net = (o as Tracked)[ORIGINS]?.get("net");
    const naming = net ? ` (the network is ${r.net.mode}${net.from === "cli" ? `, from ${net.flag} ${net.text}` : net.from === "config" ? `, from ${net.where}` : ""})` : " (the network is none, the default)";
    const log = originOf(o, "netLog");
    const allow = log.from === "library" ? '`net: "allow=…"`' : log.from === "config" ? '"net": "allow=…"' : "--net allow=…";
    const why = r.net.mode === "host" ? "with the host's network nsbox decides nothing" : "with none, what was blocked is said at exit instead";
    throw attribute(log, problem(`nothing would be logged without ${allow}${naming}: ${why}`));
  }
  o[RESOLVED] = r;
  return o as NormalOptions;
}

/**
 * The command's arguments: a NUL inside one would end it where the kernel reads it (execve takes
 * C strings), so `["echo", "a\0b"]` would silently run `echo a`.
 */
export function checkCommand(command: readonly unknown[]): void {
  command.forEach((arg, i) => {
    if (typeof arg !== "string") throw new NsboxError("BAD_OPTION", `command[${i}] must be a string, got ${typeof arg}`, { option: "command" });
    if (arg.includes("\0")) throw new NsboxError("BAD_OPTION", `command[${i}] ${JSON.stringify(arg)}: contains a NUL byte, which would cut the argument short`, { option: "command" });
  });
}
