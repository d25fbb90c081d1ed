// The library's options object checked key by key: each value's type and content, with execa's
// wording ("The `landlock` option must be "on" or "off", got "yes""). Unknown keys are refused.
import type { SandboxOptions } from "../options.ts";
import { MOUNT_KINDS, TRY_KINDS, type MountKind, type MountSpec } from "../plan/mount-spec.ts";
import { checkMilliseconds } from "./duration.ts";
import { capability, cgroupCount, cgroupSize, descriptor, envName, FD_MAX, hostname, id, noNul, oneOf, optionDef, rlimit } from "./defs.ts";
import { parseNetValue } from "./net.ts";
import { expected, Problem, problem } from "./problem.ts";

type Check = (value: unknown) => unknown;

const string = (v: unknown, what = "a string"): string => {
  if (typeof v !== "string") throw expected(what);
  return noNul(v);
};
const nonEmpty = (v: unknown, what: string): string => {
  const s = string(v, what);
  if (s === "") throw expected(what);
  return s;
};
/** A security switch is `true` or `false`, never a truthy string: "false" must not mean on, nor "yes" off. */
const boolean: Check = (v) => {
  if (typeof v !== "boolean") throw expected("true or false");
  return v;
};
/** A Problem about one element of a list, saying which. */
function element<T>(x: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof Problem) throw problem(`${JSON.stringify(x)}: ${e.message}`);
    throw e;
  }
}

/**
 * A list's elements, holes included: `some` and `map` skip the holes of `[, "x"]`, which then
 * reached the plan as undefined (a TypeError there, not the option's message).
 */
const elements = (v: unknown[]): unknown[] => Array.from(v);

const list = (each: (s: string) => string, what: string): Check => (v) => {
  if (!Array.isArray(v) || elements(v).some((x) => typeof x !== "string")) throw expected(`a list of ${what}`);
  return elements(v).map((x) => element(x as string, () => each(noNul(x as string))));
};
/** Through the command-line option's own parser: the same rule and wording for the same value. */
const viaText = (cli: string): Check => (v) => {
  const o: SandboxOptions = {};
  optionDef(cli)!.add(o, string(v), { origin: `--${cli} ${String(v)}` });
  return o[optionDef(cli)!.key];
};

const MOUNT_FIELDS = new Set(["kind", "source", "target", "optional", "mode", "size", "inodes", "upper", "origin", "option"]);
/** Kinds that read a host path or a link target: `source` is needed. */
const NEEDS_SOURCE = new Set<MountKind>(["bind", "ro-bind", "dev-bind", "file", "symlink"]);

function mountSpec(v: unknown, i: number): MountSpec {
  const at = `mounts[${i}]`;
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw expected(`a list of { kind, source?, target } objects (${at} is not one)`);
  const m = v as Record<string, unknown>;
  for (const k of Object.keys(m)) if (!MOUNT_FIELDS.has(k)) throw problem(`${at} has an unknown field \`${k}\` (known: ${[...MOUNT_FIELDS].join(", ")})`);
  // The command line's `--ro-try` is `{ kind: "ro", optional: true }` here.
  if (typeof m.kind === "string" && m.kind.endsWith("-try") && (TRY_KINDS as readonly string[]).includes(m.kind.slice(0, -4))) {
    throw problem(`${at}.kind ${JSON.stringify(m.kind)}: write kind: ${JSON.stringify(m.kind.slice(0, -4))} with optional: true`);
  }
  if (typeof m.kind !== "string" || !(MOUNT_KINDS as readonly string[]).includes(m.kind)) {
    throw problem(`${at}.kind must be one of ${MOUNT_KINDS.map((k) => JSON.stringify(k)).join(", ")}, got ${JSON.stringify(m.kind) ?? "nothing"}`);
  }
  const kind = m.kind as MountKind;
  const field = (name: string, what = "a non-empty string") => {
    const f = m[name];
    if (f === undefined) return undefined;
    if (typeof f !== "string" || f === "") throw problem(`${at}.${name} must be ${what}, got ${JSON.stringify(f) ?? typeof f}`);
    return noNul(f);
  };
  const target = field("target") ?? (["ro", "rw", "hide", "overlay", "dev-bind"].includes(kind) ? field("source") : undefined);
  if (target === undefined) throw problem(`${at}.target must be a non-empty string (the path inside)`);
  const source = field("source") ?? (["ro", "rw", "hide", "overlay", "dev-bind"].includes(kind) ? target : undefined);
  if (NEEDS_SOURCE.has(kind) && source === undefined) throw problem(`${at}: a ${kind} needs \`source\``);
  if (m.optional !== undefined && (typeof m.optional !== "boolean" || (m.optional && !TRY_KINDS.includes(kind)))) {
    throw problem(`${at}.optional must be true or false, and only for ${TRY_KINDS.join(", ")}`);
  }
  const spec: MountSpec = {
    kind, target, ...(source !== undefined ? { source } : {}), ...(m.optional === true ? { optional: true } : {}),
    origin: field("origin") ?? `${at} ${kind} ${source !== undefined && source !== target ? `${source}:` : ""}${target}`,
    option: field("option") ?? `--${kind}`,
  };
  if (kind === "tmpfs" || kind === "dir") {
    if (m.mode !== undefined && !(Number.isInteger(m.mode) && (m.mode as number) >= 0 && (m.mode as number) <= 0o7777)) throw problem(`${at}.mode must be permission bits from 0 to 0o7777`);
    spec.mode = (m.mode as number | undefined) ?? 0o755;
  } else if (m.mode !== undefined) throw problem(`${at}.mode is only for tmpfs and dir`);
  if (kind === "tmpfs") {
    const size = field("size"), inodes = field("inodes");
    if (size !== undefined && !(/^\d+[kmg%]?$/i.test(size) && !/^0+[kmg%]?$/i.test(size))) throw problem(`${at}.size must be N[k|m|g|%] above 0, got ${JSON.stringify(size)}`);
    if (inodes !== undefined && !(/^\d+[kmg]?$/i.test(inodes) && !/^0+[kmg]?$/i.test(inodes))) throw problem(`${at}.inodes must be N[k|m|g] above 0, got ${JSON.stringify(inodes)}`);
    if (size !== undefined) spec.size = size;
    if (inodes !== undefined) spec.inodes = inodes;
  } else if (m.size !== undefined || m.inodes !== undefined) throw problem(`${at}: size and inodes are only for tmpfs`);
  const upper = field("upper");
  if (upper !== undefined) {
    if (kind !== "overlay") throw problem(`${at}.upper is only for overlay`);
    spec.upper = upper;
  }
  return spec;
}

/**
 * Every SandboxOptions key with the check of its typed value. A key missing here is unknown to
 * the library (refused): the list is the interface's, kept complete by tests/library-options.test.ts.
 */
export const LIBRARY_CHECKS: ReadonlyMap<keyof SandboxOptions, Check> = new Map<keyof SandboxOptions, Check>([
  ["uid", (v) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw expected(`a whole number from 0 to 4294967294`);
    return id(String(v));
  }],
  ["gid", (v) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw expected(`a whole number from 0 to 4294967294`);
    return id(String(v));
  }],
  ["hostname", (v) => hostname(string(v, "a host name (a string)"))],
  ["propagation", (v) => oneOf(string(v, `"private" or "slave"`), ["private", "slave"])],
  ["env", (v) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw expected("an object of NAME: value strings");
    const env = Object.create(null) as Record<string, string>;
    for (const [k, x] of Object.entries(v)) {
      if (typeof x !== "string") throw problem(`${k} must be a string, got ${typeof x}`);
      env[envName(k)] = element(k, () => noNul(x));
    }
    return env;
  }],
  ["keepEnv", list(envName, "variable names")],
  ["clearEnv", boolean],
  ["cwd", (v) => nonEmpty(v, "a directory (a non-empty string)")],
  ["verbose", boolean],
  ["mounts", (v) => {
    if (!Array.isArray(v)) throw expected("a list of { kind, source?, target } objects");
    return elements(v).map(mountSpec);
  }],
  ["chdir", (v) => nonEmpty(v, "a directory inside (a non-empty string)")],
  ["noCwd", boolean],
  ["homeTools", (v) => oneOf(string(v, `"on" or "off"`), ["on", "off"])],
  ["capAdd", list(capability, "capability names")],
  ["capDrop", list(capability, "capability names")],
  ["seccomp", (v) => nonEmpty(v, `"default", "none", or the path of a filter file`)],
  ["allowNested", boolean],
  ["landlock", (v) => oneOf(string(v, `"on" or "off"`), ["on", "off"])],
  ["idMap", (v) => oneOf(string(v, `"single" or "auto"`), ["single", "auto"])],
  ["rlimits", list(rlimit, `"NAME=SOFT[:HARD]" strings`)],
  // Milliseconds, as Bun.spawn's timeout.
  ["timeout", (v) => {
    if (typeof v !== "number") throw expected("a number of milliseconds from 1 to 2147483647");
    return checkMilliseconds(v);
  }],
  ["memory", (v) => cgroupSize(nonEmpty(typeof v === "number" ? String(v) : v, "a size like \"512m\""))],
  ["pids", (v) => cgroupCount(nonEmpty(typeof v === "number" ? String(v) : v, "a number of processes"))],
  ["net", (v) => {
    const values = typeof v === "string" ? [v] : Array.isArray(v) ? elements(v) : v;
    if (!Array.isArray(values) || values.some((x) => typeof x !== "string")) throw expected(`"none", "host", "allow=RULE[,RULE…]", or a list of them`);
    for (const x of values as string[]) typeof v === "string" ? parseNetValue(noNul(x)) : element(x, () => parseNetValue(noNul(x)));
    return [...values];
  }],
  ["netLog", (v) => nonEmpty(v, "a file path (a non-empty string)")],
  ["allowSockets", list((s) => {
    if (s === "") throw problem("needs the path of a Unix socket");
    return s;
  }, "socket paths")],
  ["passFds", (v) => {
    const what = `a list of descriptor numbers from 3 to ${FD_MAX}`;
    if (!Array.isArray(v) || elements(v).some((x) => typeof x !== "number")) throw expected(what);
    return elements(v).map((x) => {
      try {
        return descriptor(Number.isInteger(x) ? String(x) : "");
      } catch (e) {
        if (e instanceof Problem) throw problem(`${String(x)}: ${e.message}`);
        throw e;
      }
    });
  }],
  ["name", viaText("name")],
]);
