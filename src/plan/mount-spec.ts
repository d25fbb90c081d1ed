// Filesystem options as written (`--ro PATH`, `--bind SRC:DST`, …): parsed into MountSpecs.
import { attribute, expected, Problem, problem } from "../options/problem.ts";

/** Every filesystem option, by its command-line name. `-try` forms allow a missing source. */
export const MOUNT_KINDS = [
  "ro", "rw", "bind", "ro-bind", "dev-bind", "hide", "tmpfs", "dir", "file", "symlink", "overlay",
] as const;
export type MountKind = (typeof MOUNT_KINDS)[number];
/** The kinds that take a host source and so have a `-try` form. */
export const TRY_KINDS: readonly MountKind[] = ["ro", "rw", "bind", "ro-bind", "dev-bind", "hide", "overlay"];

/** One filesystem change, applied in order after the default view. Paths as the user wrote them. */
export interface MountSpec {
  kind: MountKind;
  /** Host path (ro, rw, bind, ro-bind, dev-bind, overlay's lower layer, file's content), or the link's target (symlink). */
  source?: string;
  /** Path inside the sandbox. */
  target: string;
  /** A missing source is skipped instead of being an error (`--ro-try` and friends). */
  optional?: boolean;
  /** tmpfs, dir: permission bits. */
  mode?: number;
  /** tmpfs: size limit as tmpfs takes it (bytes, or with k/m/g, or a percentage). */
  size?: string;
  /** tmpfs: inode limit as tmpfs takes it (a number, or with k/m/g). */
  inodes?: string;
  /** overlay: the host directory that keeps the changes (default: a tmpfs, discarded at exit). */
  upper?: string;
  /** How the user wrote it, for messages: "--ro ./data" or "nsbox.json: profiles.ci.ro \"./data\"". */
  origin: string;
  /** The command-line option it is, e.g. "--ro". */
  option: string;
}

const MODE = /^[0-7]{3,4}$/;
const SIZE = /^\d+[kmg%]?$/i;

/**
 * Split `A:B` at the first ':' that is not escaped. In the two-part forms (SRC:DST, PATH:MODE, …)
 * a path holding ':' is written with `\:`, and a backslash before ':' or another backslash as
 * `\\` (`--bind 'a\:b:/mnt'` binds the host's `a:b`); any other backslash is kept as it is.
 */
function splitAt(value: string): [string, string | undefined] {
  for (let i = 0; i < value.length; i++) {
    if (value[i] === "\\" && (value[i + 1] === ":" || value[i + 1] === "\\")) i++;
    else if (value[i] === ":") return [unescaped(value.slice(0, i)), value.slice(i + 1)];
  }
  return [unescaped(value), undefined];
}

const unescaped = (text: string) => text.replace(/\\([:\\])/g, "$1");

function split(value: string, what: string): [string, string] {
  const [a, b] = splitAt(value);
  if (a === "" || b === undefined || b === "") throw expected(`${what} (a ':' in a path is written \\:)`);
  return [a, unescaped(b)];
}

function mode(text: string): number {
  if (!MODE.test(text)) throw problem(`mode must be octal like 755 or 1777, got '${text}'`);
  return parseInt(text, 8);
}

/** Parse one command-line filesystem option, e.g. ("tmpfs", "/cache:size=64m,mode=700"); a mistake is an NsboxError naming `--NAME VALUE`. */
export function parseMount(name: string, value: string): MountSpec {
  try {
    return parseMountSpec(name, value, `--${name} ${value}`);
  } catch (e) {
    if (e instanceof Problem) throw attribute({ from: "cli", flag: `--${name}`, text: value }, e);
    throw e;
  }
}

/**
 * Parse one filesystem option as written anywhere (`origin` says where, for the MountSpec).
 * Throws a Problem (options/problem.ts), worded without the option: the caller names where it
 * was written.
 */
export function parseMountSpec(name: string, value: string, origin: string): MountSpec {
  const optional = name.endsWith("-try");
  const kind = (optional ? name.slice(0, -4) : name) as MountKind;
  if (!MOUNT_KINDS.includes(kind) || (optional && !TRY_KINDS.includes(kind))) {
    throw problem("is not a filesystem option");
  }
  if (value === "") throw problem("needs a path");
  const base = { kind, origin, option: `--${kind}`, ...(optional ? { optional } : {}) };
  switch (kind) {
    case "ro":
    case "rw":
    case "hide":
      return { ...base, source: value, target: value };
    case "dev-bind": {
      const [source, target] = splitAt(value)[1] !== undefined ? split(value, "SRC:DST") : [unescaped(value), unescaped(value)];
      return { ...base, source, target };
    }
    case "bind":
    case "ro-bind": {
      const [source, target] = split(value, "SRC:DST");
      return { ...base, source, target };
    }
    case "symlink": {
      const [source, target] = split(value, "TARGET:PATH");
      return { ...base, source, target };
    }
    case "file": {
      const [target, source] = split(value, "PATH:CONTENT_FILE");
      return { ...base, source, target };
    }
    case "dir": {
      const [target, m] = splitAt(value)[1] !== undefined ? split(value, "PATH[:MODE]") : [unescaped(value), undefined];
      return { ...base, target, mode: m === undefined ? 0o755 : mode(m) };
    }
    case "overlay": {
      const [target, upper] = splitAt(value)[1] !== undefined ? split(value, "PATH[:UPPERDIR]") : [unescaped(value), undefined];
      return { ...base, source: target, target, ...(upper ? { upper } : {}) };
    }
    case "tmpfs": {
      const [target, settings] = splitAt(value);
      // ":size=1m" would be a tmpfs over "": the current directory, emptied.
      if (target === "") throw problem("needs a path before ':' (PATH[:size=N,nr_inodes=N,mode=M])");
      const spec: MountSpec = { ...base, target, mode: 0o755 };
      for (const opt of settings === undefined ? [] : settings.split(",")) {
        const [k, v] = opt.split("=");
        // 0 would mean "unlimited" to tmpfs: refused, as every tmpfs is capped (plan/tmpfs.ts).
        if (k === "size" && v && SIZE.test(v) && !/^0+[kmg%]?$/i.test(v)) spec.size = v;
        else if (k === "nr_inodes" && v && /^\d+[kmg]?$/i.test(v) && !/^0+[kmg]?$/i.test(v)) spec.inodes = v;
        else if (k === "mode" && v) spec.mode = mode(v);
        else if (k === "size" || k === "nr_inodes") throw problem(`${k} must be N[k|m|g${k === "size" ? "|%" : ""}] above 0 (size=64m, nr_inodes=10k), got '${opt}'`);
        else throw problem(`unknown tmpfs setting '${opt}' (size=N[k|m|g|%] above 0, nr_inodes=N[k|m|g] above 0, mode=OCTAL)`);
      }
      return spec;
    }
  }
}
