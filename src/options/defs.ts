// Every sandbox option, defined once: its command-line/config name, the SandboxOptions key it
// fills, how a written value is parsed (command line, config file) and how a typed one is checked
// (library, config JSON numbers and booleans). Drives the flags, help, profiles and the JSON Schema.
import { join } from "node:path";
import type { SandboxOptions } from "../options.ts";
import { MOUNT_KINDS, TRY_KINDS, parseMountSpec, type MountSpec } from "../plan/mount-spec.ts";
import { capNumbers, parseRlimit } from "../plan/privileges.ts";
import { parseDuration } from "./duration.ts";
import { parseNetValue } from "./net.ts";
import { expected, problem } from "./problem.ts";

export const ID_MAX = 4294967294;
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The kernel's HOST_NAME_MAX. */
export const HOSTNAME_MAX = 64;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/** Where a value is used, for relative paths: a config file's directory (undefined: the current directory). */
export interface ParseContext {
  base?: string;
  /** How the value is named in a MountSpec's `origin` ("--ro ./data", `nsbox.json: profiles.ci.ro "./data"`). */
  origin: string;
}

export interface OptionDef {
  /** The SandboxOptions field it fills (the library's name for it). */
  key: keyof SandboxOptions;
  type: "string" | "boolean";
  description: string;
  valueHint?: string;
  alias?: string;
  /** May be given more than once; each value is applied in turn. */
  repeatable?: boolean;
  /** A config file may give it as a JSON number (uid, timeout in seconds…); elsewhere a number is refused. */
  numeric?: boolean;
  /** Parse one value as written and add it to `o`. Throws a Problem (problem.ts), worded without the origin. */
  add(o: SandboxOptions, value: string | boolean, ctx: ParseContext): void;
}

/** A NUL would end the string where the kernel reads it: the value would be cut short silently. */
export function noNul(text: string): string {
  if (text.includes("\0")) throw problem("contains a NUL byte, which would cut the value short");
  return text;
}

export function id(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) > ID_MAX) throw expected(`a whole number from 0 to ${ID_MAX}`);
  return Number(text);
}

export function hostname(text: string): string {
  if (text.length > HOSTNAME_MAX || !HOSTNAME.test(text)) {
    throw expected(`a host name of letters, digits, '-' and '.', from 1 to ${HOSTNAME_MAX} characters`);
  }
  return text;
}

export function envName(name: string): string {
  if (!ENV_NAME.test(name)) throw problem(`'${name}' is not a valid variable name (letters, digits and '_', not starting with a digit)`);
  return name;
}

export function oneOf<const T extends string>(text: string, values: readonly T[]): T {
  if (!(values as readonly string[]).includes(text)) throw expected(values.map((v) => JSON.stringify(v)).join(" or "));
  return text as T;
}

function nonEmpty(text: string, what: string): string {
  if (text === "") throw problem(`needs ${what}`);
  return noNul(text);
}

/** A capability name as --cap-add takes it, checked. */
export function capability(name: string): string {
  capNumbers(name);
  return name;
}

/** A --rlimit value, checked. */
export function rlimit(text: string): string {
  parseRlimit(text);
  return text;
}

/** A relative path in a config file is relative to the file's directory. */
const fromBase = (path: string, base?: string) => (base && !path.startsWith("/") ? join(base, path) : path);

const MOUNT_HELP: Record<string, [string, string]> = {
  ro: ["PATH", "Share a host path read-only at the same path"],
  rw: ["PATH", "Share a host path read-write at the same path"],
  bind: ["SRC:DST", "Bind host SRC read-write at DST"],
  "ro-bind": ["SRC:DST", "Bind host SRC read-only at DST"],
  "dev-bind": ["SRC[:DST]", "Bind a device (e.g. /dev/kvm), devices allowed"],
  hide: ["PATH", "Hide a path behind an empty, unreadable directory or file"],
  tmpfs: ["PATH[:size=N,nr_inodes=N,mode=M]", "A fresh tmpfs at PATH"],
  dir: ["PATH[:MODE]", "Create an empty directory"],
  file: ["PATH:CONTENT_FILE", "A read-only file at PATH with CONTENT_FILE's content"],
  symlink: ["TARGET:PATH", "Create a symlink at PATH pointing to TARGET"],
  overlay: ["PATH[:UPPERDIR]", "PATH writable inside, the host copy untouched; changes kept in UPPERDIR (default: discarded)"],
};

/** Kinds whose value has two parts split at ':'; a ':' in a path is written `\:`. */
const TWO_PART = new Set(["bind", "ro-bind", "dev-bind", "tmpfs", "dir", "file", "symlink", "overlay"]);

/**
 * In a config file, relative paths are relative to the file's directory. `~` and `~/…` are the
 * home; any other `~name` is a relative name (the plan has no `~user`), so it is joined too:
 * left relative it would be resolved from the current directory, a subdirectory where `~name`
 * can be a link out that the loosening check never saw.
 */
function rebase(spec: MountSpec, base: string): void {
  const rel = (p?: string) => (p && !p.startsWith("/") && p !== "~" && !p.startsWith("~/") ? join(base, p) : p);
  spec.target = rel(spec.target)!;
  if (spec.kind !== "symlink") spec.source = rel(spec.source);
  spec.upper = rel(spec.upper);
  if (spec.upper === undefined) delete spec.upper;
}

function mountOptions(): [string, OptionDef][] {
  const defs: [string, OptionDef][] = [];
  for (const kind of MOUNT_KINDS) {
    const [valueHint, description] = MOUNT_HELP[kind]!;
    const escape = TWO_PART.has(kind) ? "; a ':' in a path is written \\:" : "";
    for (const name of TRY_KINDS.includes(kind) ? [kind, `${kind}-try`] : [kind]) {
      defs.push([name, {
        key: "mounts",
        type: "string",
        valueHint,
        description: name === kind ? `${description} (repeatable, in order${escape})` : `Like --${kind}, skipped when the source is missing`,
        repeatable: true,
        add: (o, v, { base, origin }) => {
          const spec = parseMountSpec(name, noNul(String(v)), origin);
          if (base) rebase(spec, base);
          (o.mounts ??= []).push(spec);
        },
      }]);
    }
  }
  return defs;
}

const str = (v: string | boolean) => noNul(String(v));

/**
 * The sandbox options by command-line name, in help order. A Map: a config file's key
 * "constructor" or "__proto__" is an unknown option, never one of Object's own members.
 */
export const OPTION_DEFS: ReadonlyMap<string, OptionDef> = new Map<string, OptionDef>([
  ["uid", { key: "uid", type: "string", valueHint: "N", numeric: true, description: "User id inside the sandbox (default 0: root inside, you outside)", add: (o, v) => void (o.uid = id(str(v))) }],
  ["gid", { key: "gid", type: "string", valueHint: "N", numeric: true, description: "Group id inside the sandbox (default 0)", add: (o, v) => void (o.gid = id(str(v))) }],
  ["id-map", {
    key: "idMap", type: "string", valueHint: "single|auto",
    description: "Ids inside: single (default: yours only; chown to others keeps your ownership) or auto (also your /etc/subuid range, through newuidmap, where there is one)",
    add: (o, v) => void (o.idMap = oneOf(str(v), ["single", "auto"])),
  }],
  ["hostname", { key: "hostname", type: "string", valueHint: "NAME", description: `Host name inside (default nsbox; at most ${HOSTNAME_MAX} characters)`, add: (o, v) => void (o.hostname = hostname(str(v))) }],
  ["propagation", { key: "propagation", type: "string", valueHint: "private|slave", description: "Mount propagation from the host (default private)", add: (o, v) => void (o.propagation = oneOf(str(v), ["private", "slave"])) }],
  ["env", {
    key: "env", type: "string", valueHint: "NAME=VALUE", description: "Set a variable inside (repeatable)", repeatable: true,
    add: (o, v) => {
      const pair = str(v);
      const eq = pair.indexOf("=");
      if (eq <= 0) throw expected("NAME=VALUE");
      // A null-prototype record: a variable named __proto__ is a variable like any other.
      (o.env ??= Object.create(null) as Record<string, string>)[envName(pair.slice(0, eq))] = pair.slice(eq + 1);
    },
  }],
  ["keep-env", { key: "keepEnv", type: "string", valueHint: "NAME", description: "Keep a variable that looks like a secret (repeatable)", repeatable: true, add: (o, v) => void (o.keepEnv ??= []).push(envName(str(v))) }],
  ["clear-env", { key: "clearEnv", type: "boolean", description: "Start from an empty environment (PATH, HOME, PWD, TERM kept)", add: (o, v) => void (o.clearEnv = v === true) }],
  ["chdir", { key: "chdir", type: "string", valueHint: "DIR", description: "Start in DIR inside (default: the current directory)", add: (o, v) => void (o.chdir = nonEmpty(String(v), "a directory")) }],
  ["no-cwd", { key: "noCwd", type: "boolean", description: "Do not share the current directory", add: (o, v) => void (o.noCwd = v === true) }],
  ["home-tools", { key: "homeTools", type: "string", valueHint: "on|off", description: "Toolchains on your PATH below $HOME, and the Bun nsbox runs on, read-only inside without their credentials files (default on)", add: (o, v) => void (o.homeTools = oneOf(str(v), ["on", "off"])) }],
  ...mountOptions(),
  ["cap-add", { key: "capAdd", type: "string", valueHint: "CAP", description: "Let the payload keep a capability, e.g. CAP_NET_RAW, or ALL (repeatable)", repeatable: true, add: (o, v) => void (o.capAdd ??= []).push(capability(str(v))) }],
  ["cap-drop", { key: "capDrop", type: "string", valueHint: "CAP", description: "Remove a capability from --cap-add (repeatable)", repeatable: true, add: (o, v) => void (o.capDrop ??= []).push(capability(str(v))) }],
  ["seccomp", {
    key: "seccomp", type: "string", valueHint: "default|none|FILE", description: "The syscall filter: the default one, none, or a compiled classic-BPF program",
    // A FILE in a config file is relative to the file's directory, as its mount paths are.
    add: (o, v, { base }) => {
      const s = nonEmpty(String(v), "default, none, or a file");
      o.seccomp = s === "default" || s === "none" ? s : fromBase(s, base);
    },
  }],
  ["allow-nested", { key: "allowNested", type: "boolean", description: "Allow user namespaces inside (nested sandboxes); Landlock is then off, as it forbids their mounts", add: (o, v) => void (o.allowNested = v === true) }],
  ["landlock", { key: "landlock", type: "string", valueHint: "on|off", description: "Landlock filesystem rules behind the mounts (default on where the kernel has it)", add: (o, v) => void (o.landlock = oneOf(str(v), ["on", "off"])) }],
  ["rlimit", { key: "rlimits", type: "string", valueHint: "NAME=VALUE[:HARD]", description: "A resource limit: nofile, nproc, as, fsize, cpu, core, … (repeatable; core is 0 unless set)", repeatable: true, add: (o, v) => void (o.rlimits ??= []).push(rlimit(str(v))) }],
  ["timeout", {
    key: "timeout", type: "string", valueHint: "DURATION", numeric: true,
    description: "Kill the sandbox after DURATION (500ms, 30s, 5m; plain numbers are seconds; at most about 24.8 days); exit status 124",
    add: (o, v) => void (o.timeout = parseDuration(str(v))),
  }],
  ["net", {
    key: "net", type: "string", valueHint: "none|host|allow=RULES",
    description: "Network: none (default), the host's, or allow=host[:port],*.domain,IP/CIDR[:port],@registries: only those, for every program (nsbox doctor says how) (repeatable)",
    repeatable: true, add: (o, v) => {
      parseNetValue(str(v));
      (o.net ??= []).push(String(v));
    },
  }],
  ["net-log", { key: "netLog", type: "string", valueHint: "FILE", description: "Write every network decision to FILE as JSON lines (needs --net allow=)", add: (o, v, { base }) => void (o.netLog = fromBase(nonEmpty(String(v), "a file"), base)) }],
  ["allow-socket", {
    key: "allowSockets", type: "string", valueHint: "PATH", repeatable: true,
    description: "Let the sandbox connect to the host's Unix socket PATH (e.g. \"$SSH_AUTH_SOCK\"), bound in at the same path when it is not in the view; other sockets made outside the sandbox are refused (repeatable)",
    // A path in a config file is relative to the file's directory, as its mount paths are.
    // Empty is most often "$SSH_AUTH_SOCK" with no agent running: say so.
    add: (o, v, { base }) => void (o.allowSockets ??= []).push(fromBase(nonEmpty(String(v), "the path of a Unix socket (empty: if it came from a variable such as \"$SSH_AUTH_SOCK\", that variable is not set; start the agent first: eval \"$(ssh-agent)\")"), base)),
  }],
  ["memory", { key: "memory", type: "string", valueHint: "SIZE", numeric: true, description: "Memory limit (needs a delegated cgroup v2)", add: (o, v) => void (o.memory = cgroupSize(String(v))) }],
  ["pids", { key: "pids", type: "string", valueHint: "N", numeric: true, description: "Process limit (needs a delegated cgroup v2)", add: (o, v) => void (o.pids = cgroupCount(String(v))) }],
  ["pass-fd", {
    key: "passFds", type: "string", valueHint: "N", repeatable: true,
    description: "Pass descriptor N (open where nsbox starts: 5<file) to the command at the same number (repeatable; /dev/fd/N arguments and make's jobserver are passed without it)",
    add: (o, v) => void (o.passFds ??= []).push(descriptor(str(v))),
  }],
  ["name", { key: "name", type: "string", valueHint: "NAME", description: "Name the sandbox for nsbox ps, inspect, exec and stop (default: a short generated id)", add: (o, v) => void (o.name = nameOf(str(v))) }],
  ["verbose", { key: "verbose", type: "boolean", alias: "v", description: "Print each setup step as it runs", add: (o, v) => void (o.verbose = v === true) }],
]);

/** The highest descriptor number --pass-fd takes: the kernel's default ceiling (fs.nr_open) less one. */
export const FD_MAX = 1048575;

/** A --pass-fd value: a descriptor number above stdio (0, 1 and 2 are always passed, through a pty when a terminal). */
export function descriptor(text: string): number {
  if (!/^\d{1,7}$/.test(text) || Number(text) > FD_MAX) throw expected(`a descriptor number from 3 to ${FD_MAX}`);
  const fd = Number(text);
  if (fd < 3) throw problem(`standard input, output and error are always passed (through a pseudo-terminal when they are your terminal): give a descriptor from 3 to ${FD_MAX}`);
  return fd;
}

/** A sandbox's name: a file name in the runtime directory (registry.ts). */
export const SANDBOX_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** --memory's value, checked before the host is asked for a cgroup: a mistake in it is the first thing to fix. */
export function cgroupSize(text: string): string {
  if (!/^[1-9]\d*[kmg]?$/i.test(noNul(text))) throw expected("a size like 512m or 2g (bytes, or k, m, g)");
  return text;
}
/** --pids's value: a whole number of processes above 0. */
export function cgroupCount(text: string): string {
  if (!/^[1-9]\d*$/.test(noNul(text))) throw expected("a whole number of processes above 0");
  return text;
}

function nameOf(text: string): string {
  if (!SANDBOX_NAME.test(text)) throw expected("a sandbox name of 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit");
  return text;
}

/** The definition of command-line/config name `name`, or undefined (own entries only). */
export function optionDef(name: string): OptionDef | undefined {
  return OPTION_DEFS.get(name);
}

/** What the argument parser and the help need of one option: a view of its definition. */
export type OptionFlag = Pick<OptionDef, "type" | "description" | "valueHint" | "alias" | "repeatable" | "numeric">;

/**
 * Every sandbox option as a command-line flag, by its name without `--`, in help order: what the
 * parser, the help and the JSON Schema read. A null-prototype object: `SANDBOX_OPTIONS["constructor"]`
 * is undefined, not Object's.
 */
export const SANDBOX_OPTIONS: Readonly<Record<string, OptionFlag>> = Object.assign(
  Object.create(null) as Record<string, OptionFlag>,
  Object.fromEntries(
    [...OPTION_DEFS].map(([name, d]) => [name, { type: d.type, description: d.description, valueHint: d.valueHint, alias: d.alias, repeatable: d.repeatable, numeric: d.numeric }]),
  ),
);
