// Filesystem options as written (`--ro PATH`, `--bind SRC:DST`, …): parsed into MountSpecs.
import { badOption } from "../errors.ts";

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

function split(flag: string, value: string, what: string): [string, string] {
  const i = value.indexOf(":");
  if (i <= 0 || i === value.length - 1) throw badOption(flag, `expected ${what}, got '${value}'`);
  return [value.slice(0, i), value.slice(i + 1)];
}

function mode(flag: string, text: string): number {
  if (!MODE.test(text)) throw badOption(flag, `mode must be octal like 755 or 1777, got '${text}'`);
  return parseInt(text, 8);
}

/** Parse one filesystem option, e.g. ("tmpfs", "/cache:size=64m,mode=700"). */
export function parseMount(name: string, value: string, origin = `--${name} ${value}`): MountSpec {
  const flag = `--${name}`;
  const optional = name.endsWith("-try");
  const kind = (optional ? name.slice(0, -4) : name) as MountKind;
  if (!MOUNT_KINDS.includes(kind) || (optional && !TRY_KINDS.includes(kind))) {
    throw badOption(flag, "is not a filesystem option");
  }
  if (value === "") throw badOption(flag, "needs a path");
  const base = { kind, origin, option: `--${kind}`, ...(optional ? { optional } : {}) };
  switch (kind) {
    case "ro":
    case "rw":
    case "hide":
      return { ...base, source: value, target: value };
    case "dev-bind": {
      const [source, target] = value.includes(":") ? split(flag, value, "SRC:DST") : [value, value];
      return { ...base, source, target };
    }
    case "bind":
    case "ro-bind": {
      const [source, target] = split(flag, value, "SRC:DST");
      return { ...base, source, target };
    }
    case "symlink": {
      const [source, target] = split(flag, value, "TARGET:PATH");
      return { ...base, source, target };
    }
    case "file": {
      const [target, source] = split(flag, value, "PATH:CONTENT_FILE");
      return { ...base, source, target };
    }
    case "dir": {
      const [target, m] = value.includes(":") ? split(flag, value, "PATH[:MODE]") : [value, undefined];
      return { ...base, target, mode: m === undefined ? 0o755 : mode(flag, m) };
    }
    case "overlay": {
      const [target, upper] = value.includes(":") ? split(flag, value, "PATH[:UPPERDIR]") : [value, undefined];
      return { ...base, source: target, target, ...(upper ? { upper } : {}) };
    }
    case "tmpfs": {
      const i = value.indexOf(":");
      const target = i < 0 ? value : value.slice(0, i);
      const spec: MountSpec = { ...base, target, mode: 0o755 };
      for (const opt of i < 0 ? [] : value.slice(i + 1).split(",")) {
        const [k, v] = opt.split("=");
        // 0 would mean "unlimited" to tmpfs: refused, as every tmpfs is capped (plan/tmpfs.ts).
        if (k === "size" && v && SIZE.test(v) && !/^0+[kmg%]?$/i.test(v)) spec.size = v;
        else if (k === "nr_inodes" && v && /^\d+[kmg]?$/i.test(v) && !/^0+[kmg]?$/i.test(v)) spec.inodes = v;
        else if (k === "mode" && v) spec.mode = mode(flag, v);
        else throw badOption(flag, `unknown tmpfs setting '${opt}' (size=N[k|m|g|%] above 0, nr_inodes=N[k|m|g] above 0, mode=OCTAL)`);
      }
      return spec;
    }
  }
}
