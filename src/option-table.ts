// Every sandbox option by its command-line name: one meaning and one validator for the command
// line, profiles and project config files alike.
import { join } from "node:path";
import { NsboxError } from "./errors.ts";
import { ENV_NAME, HOSTNAME, ID_MAX, type SandboxOptions } from "./options.ts";
import { MOUNT_KINDS, TRY_KINDS, parseMount } from "./plan/mount-spec.ts";
import { checkName } from "./registry.ts";

export interface OptionDef {
  type: "string" | "boolean";
  description: string;
  valueHint?: string;
  alias?: string;
  /** May be given more than once; each value is applied in turn. */
  repeatable?: boolean;
  /**
   * Apply one value; `origin` names where it was written ("--uid", "nsbox.json: profiles.ci.uid");
   * `base` is the directory relative paths are relative to, when not the current one.
   */
  apply(o: SandboxOptions, value: string | boolean, origin: string, base?: string): void;
}

const bad = (origin: string, message: string) =>
  new NsboxError("BAD_OPTION", `${origin}: ${message}`, { option: origin.startsWith("--") ? origin : undefined });

function id(origin: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > ID_MAX) throw bad(origin, `expected a whole number from 0 to ${ID_MAX}, got '${value}'`);
  return Number(value);
}

function envName(origin: string, name: string): string {
  if (!ENV_NAME.test(name)) throw bad(origin, `'${name}' is not a valid variable name`);
  return name;
}

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

function mountOptions(): Record<string, OptionDef> {
  const defs: Record<string, OptionDef> = {};
  for (const kind of MOUNT_KINDS) {
    const [valueHint, description] = MOUNT_HELP[kind]!;
    for (const name of TRY_KINDS.includes(kind) ? [kind, `${kind}-try`] : [kind]) {
      defs[name] = {
        type: "string",
        valueHint,
        description: name === kind ? `${description} (repeatable, in order)` : `Like --${kind}, skipped when the source is missing`,
        repeatable: true,
        apply: (o, v, origin, base) => {
          const spec = parseMount(name, String(v), origin.startsWith("--") ? `${origin} ${v}` : `${origin} ${JSON.stringify(v)}`);
          if (base) {
            // In a config file, relative paths are relative to the file's directory. `~` and `~/…`
            // are the home; any other `~name` is a relative name (the plan has no `~user`), so it
            // is joined too: left relative it would be resolved from the current directory, a
            // subdirectory where `~name` can be a link out that the loosening check never saw.
            const rel = (p?: string) => (p && !p.startsWith("/") && p !== "~" && !p.startsWith("~/") ? join(base, p) : p);
            spec.target = rel(spec.target)!;
            if (spec.kind !== "symlink") spec.source = rel(spec.source);
            spec.upper = rel(spec.upper);
            if (spec.upper === undefined) delete spec.upper;
          }
          (o.mounts ??= []).push(spec);
        },
      };
    }
  }
  return defs;
}

/** The sandbox options. */
export const SANDBOX_OPTIONS: Record<string, OptionDef> = {
  uid: { type: "string", valueHint: "N", description: "User id inside the sandbox (default 0: root inside, you outside)", apply: (o, v, at) => void (o.uid = id(at, String(v))) },
  gid: { type: "string", valueHint: "N", description: "Group id inside the sandbox (default 0)", apply: (o, v, at) => void (o.gid = id(at, String(v))) },
  hostname: {
    type: "string", valueHint: "NAME", description: "Host name inside (default nsbox)",
    apply: (o, v, at) => {
      if (String(v).length > 64 || !HOSTNAME.test(String(v))) throw bad(at, `'${v}' is not a valid host name (letters, digits, '-' and '.', at most 64)`);
      o.hostname = String(v);
    },
  },
  propagation: {
    type: "string", valueHint: "private|slave", description: "Mount propagation from the host (default private)",
    apply: (o, v, at) => {
      if (v !== "private" && v !== "slave") throw bad(at, `expected 'private' or 'slave', got '${v}'`);
      o.propagation = v;
    },
  },
  env: {
    type: "string", valueHint: "NAME=VALUE", description: "Set a variable inside (repeatable)", repeatable: true,
    apply: (o, v, at) => {
      const pair = String(v);
      const eq = pair.indexOf("=");
      if (eq <= 0) throw bad(at, `expected NAME=VALUE, got '${pair}'`);
      (o.env ??= {})[envName(at, pair.slice(0, eq))] = pair.slice(eq + 1);
    },
  },
  "keep-env": { type: "string", valueHint: "NAME", description: "Keep a variable that looks like a secret (repeatable)", repeatable: true, apply: (o, v, at) => void (o.keepEnv ??= []).push(envName(at, String(v))) },
  "clear-env": { type: "boolean", description: "Start from an empty environment (PATH, HOME, PWD, TERM kept)", apply: (o, v) => void (o.clearEnv = v === true) },
  chdir: { type: "string", valueHint: "DIR", description: "Start in DIR inside (default: the current directory)", apply: (o, v) => void (o.chdir = String(v)) },
  "no-cwd": { type: "boolean", description: "Do not share the current directory", apply: (o, v) => void (o.noCwd = v === true) },
  ...mountOptions(),
  "cap-add": { type: "string", valueHint: "CAP", description: "Let the payload keep a capability, e.g. CAP_NET_RAW, or ALL (repeatable)", repeatable: true, apply: (o, v) => void (o.capAdd ??= []).push(String(v)) },
  "cap-drop": { type: "string", valueHint: "CAP", description: "Remove a capability from --cap-add (repeatable)", repeatable: true, apply: (o, v) => void (o.capDrop ??= []).push(String(v)) },
  seccomp: { type: "string", valueHint: "default|none|FILE", description: "The syscall filter: the default one, none, or a compiled classic-BPF program", apply: (o, v, _at, base) => {
    // A FILE in a config file is relative to the file's directory, as its mount paths are.
    const s = String(v);
    o.seccomp = base && s !== "default" && s !== "none" && !s.startsWith("/") ? join(base, s) : s;
  } },
  "allow-nested": { type: "boolean", description: "Allow user namespaces inside (nested sandboxes); Landlock is then off, as it forbids their mounts", apply: (o, v) => void (o.allowNested = v === true) },
  landlock: {
    type: "string", valueHint: "on|off", description: "Landlock filesystem rules behind the mounts (default on where the kernel has it)",
    apply: (o, v, at) => {
      if (v !== "on" && v !== "off") throw bad(at, `expected 'on' or 'off', got '${v}'`);
      o.landlock = v;
    },
  },
  rlimit: { type: "string", valueHint: "NAME=VALUE[:HARD]", description: "A resource limit: nofile, nproc, as, fsize, cpu, core, … (repeatable; core is 0 unless set)", repeatable: true, apply: (o, v) => void (o.rlimits ??= []).push(String(v)) },
  timeout: { type: "string", valueHint: "DURATION", description: "Kill the sandbox after DURATION (500ms, 30s, 5m); exit status 124", apply: (o, v, at) => void (o.timeout = duration(at, String(v))) },
  net: {
    type: "string", valueHint: "none|host|allow=RULES",
    description: "Network: none (default), the host's, or allow=host[:port],*.domain,IP/CIDR[:port],@registries through nsbox's proxy (repeatable)",
    repeatable: true, apply: (o, v) => void (o.net ??= []).push(String(v)),
  },
  "net-log": { type: "string", valueHint: "FILE", description: "Write every network decision to FILE as JSON lines", apply: (o, v, _at, base) => void (o.netLog = base && !String(v).startsWith("/") ? join(base, String(v)) : String(v)) },
  memory: { type: "string", valueHint: "SIZE", description: "Memory limit (needs a delegated cgroup v2)", apply: (o, v) => void (o.memory = String(v)) },
  pids: { type: "string", valueHint: "N", description: "Process limit (needs a delegated cgroup v2)", apply: (o, v) => void (o.pids = String(v)) },
  name: { type: "string", valueHint: "NAME", description: "Name the sandbox for nsbox ps, inspect, exec and stop (default: a short generated id)", apply: (o, v, at) => void (o.name = checkName(String(v), at)) },
  verbose: { type: "boolean", alias: "v", description: "Print each setup step as it runs", apply: (o, v) => void (o.verbose = v === true) },
};

/** "500ms", "30s", "5m", "1h", or plain seconds → milliseconds. */
function duration(origin: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "s"] : NaN;
  if (!(ms > 0)) throw bad(origin, `expected a duration like 500ms, 30s or 5m, got '${text}'`);
  return Math.round(ms);
}

/**
 * Apply a value as a profile or config file writes it: a string, number, boolean, or a list.
 * Every message names the file and the key (`origin`), whichever check finds the mistake.
 */
export function applyConfigValue(o: SandboxOptions, name: string, value: unknown, origin: string, base?: string): void {
  // Own keys only: a config file's "constructor" or "__proto__" is an unknown option, not Object's.
  const def = Object.hasOwn(SANDBOX_OPTIONS, name) ? SANDBOX_OPTIONS[name] : undefined;
  if (!def) throw bad(origin, "unknown option");
  const values = Array.isArray(value) && def.repeatable ? value : [value];
  for (const v of values) {
    if (def.type === "boolean" && typeof v !== "boolean") throw bad(origin, `expected true or false, got ${JSON.stringify(v)}`);
    if (def.type === "string" && typeof v !== "string" && typeof v !== "number") {
      throw bad(origin, `expected ${def.repeatable ? "a string or a list of strings" : "a string"}, got ${JSON.stringify(v)}`);
    }
    try {
      def.apply(o, typeof v === "number" ? String(v) : (v as string | boolean), origin, base);
    } catch (e) {
      if (!(e instanceof NsboxError) || e.message.startsWith(origin)) throw e;
      // A check that words its message for the command line ("--tmpfs: …"): say where it was written.
      throw bad(origin, `${JSON.stringify(v)}: ${e.message.replace(/^--[\w-]+( [^:]*)?: /, "")}`);
    }
  }
}
