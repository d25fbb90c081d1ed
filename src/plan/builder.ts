// PlanBuilder: appends ops in order and keeps a model of the sandbox's tree, so that every
// target is checked (no symlinks, nothing created on the host, nothing read-only written)
// before fork.
import { lstatSync } from "node:fs";
import { NsboxError } from "../errors.ts";
import type { Op, Purpose } from "../ops.ts";
import { identity, walkError, walkHostPath } from "./host-path.ts";

import { ATTR, MS } from "../kernel.ts";
/** Mount flags, mount attributes and op flags live in src/kernel.ts (mirrored by executor/nsbox.h). */
export { ATTR, MNT_DETACH, MS, OPF } from "../kernel.ts";

/**
 * During setup the sandbox's root is built at NEW_ROOT while the host's root is reachable at
 * OLD_ROOT (both inside a private tmpfs, after a first pivot_root); see plan/filesystem.ts.
 */
export const OLD_ROOT = "/oldroot";
export const NEW_ROOT = "/newroot";
export const hostPath = (p: string) => OLD_ROOT + p;
export const sandboxPath = (p: string) => (p === "/" ? NEW_ROOT : NEW_ROOT + p);

/** A mount placed in the sandbox: host-backed (a bind or an overlay's lower layer) or fresh (tmpfs). */
interface Placed {
  at: string;
  /** Kernel filesystems (proc, devpts) are the plan's to mount but not to fill. */
  special?: boolean;
  /** The host path shown at `at`, for binds and overlays. */
  host?: string;
  /** Whether missing paths below it may be created (in the sandbox only: never on the host). */
  creatable: boolean;
  readOnly: boolean;
}

type Kind = "dir" | "file" | "symlink" | "missing";

export class PlanBuilder {
  readonly ops: Op[] = [];
  private placed: Placed[] = [{ at: "/", creatable: true, readOnly: false }];
  private made = new Set<string>(["/"]);
  private files = new Set<string>();
  private links = new Map<string, string>();
  /** Sandbox paths whose protected files are guarded when a writable share covers them (plan/protected.ts). */
  readonly guarded: string[] = [];
  /** Directories whose protected names nsbox checks after the run (plan/protected.ts). */
  readonly watches: import("./protected.ts").Watch[] = [];

  push(op: Op): this {
    this.ops.push(op);
    return this;
  }

  /** What stands at `path` in the sandbox as planned so far. */
  kindAt(path: string): Kind {
    if (this.links.has(path)) return "symlink";
    if (this.made.has(path)) return "dir";
    if (this.files.has(path)) return "file";
    const cover = this.coverOf(path);
    if (cover.host === undefined) return path === cover.at ? "dir" : "missing";
    return hostKind(cover.host + path.slice(cover.at === "/" ? 0 : cover.at.length));
  }

  /**
   * Make sure `path` can be used as a target: every component resolves without a symlink,
   * missing directories are created in the sandbox (never on the host, never in a read-only
   * mount), and the last component is a directory or file as asked (created when missing).
   */
  prepare(path: string, what: "dir" | "file" | "parent", why: Purpose, mode = 0o755): this {
    const parts = path.split("/").filter(Boolean);
    let at = "";
    parts.forEach((part, i) => {
      at += "/" + part;
      const last = i === parts.length - 1;
      const kind = this.kindAt(at);
      if (kind === "symlink") throw refuse(why, `${at} is a symlink inside the sandbox; nsbox never places anything through a symlink (name the real path)`);
      if (last && what === "parent") return;
      if (kind === "missing") {
        const cover = this.coverOf(at);
        if (!cover.creatable) {
          throw refuse(why, cover.readOnly
            ? `${at} does not exist and ${cover.at} is read-only inside`
            : `${at} does not exist in the shared ${cover.at}; nsbox creates nothing on the host (create it first)`);
        }
        if (last && what === "file") {
          this.files.add(at);
          this.push({ op: "MKFILE", path: sandboxPath(at), mode: 0o644, noSymlinks: true, why });
        } else {
          this.made.add(at);
          this.push({ op: "MKDIR", path: sandboxPath(at), mode: last ? mode : 0o755, noSymlinks: true, why });
        }
      } else if (!last && kind === "file") {
        throw refuse(why, `${at} is a file, not a directory`);
      } else if (last && what !== "parent" && kind !== what) {
        throw refuse(why, `${at} is a ${kind} inside the sandbox, and a ${what} is needed there`);
      }
    });
    return this;
  }

  /**
   * Bind host `src` at sandbox `dst` with its submounts, optionally read-only. `src` is resolved
   * here once (only root's own symlinks are followed, see host-path.ts) and its identity recorded:
   * the executor opens it without following symlinks, checks it is still that file, and mounts
   * that descriptor, read-only before it is attached. Every bind of the plan goes through here.
   */
  bind(src: string, dst: string, opts: { readOnly: boolean; isDir: boolean; why: Purpose; attrs?: number }): this {
    let walk: ReturnType<typeof walkHostPath>;
    try {
      walk = walkHostPath(src);
    } catch (e) {
      throw refuse(opts.why, `${src}: ${walkError(e)}`);
    }
    if (!walk.ok) {
      throw refuse(opts.why, "link" in walk
        ? `${walk.link} is a symlink to ${walk.leadsTo}; nsbox does not follow symlinks in what it mounts (a sandbox or another user could have placed it): name the real path`
        : `${walk.missing}: no such file or directory`);
    }
    if (walk.st.isDirectory() !== opts.isDir) throw refuse(opts.why, `${walk.path} is ${opts.isDir ? "not a directory" : "a directory"}`);
    this.prepare(dst, opts.isDir ? "dir" : "file", opts.why);
    const set = (opts.readOnly ? ATTR.RDONLY : 0) | (opts.attrs ?? ATTR.NOSUID | ATTR.NODEV);
    this.push({ op: "BIND", source: hostPath(walk.path), target: sandboxPath(dst), identity: identity(walk.st), attrs: set, tree: true, noSymlinks: true, why: opts.why });
    return this.place({ at: dst, host: walk.path, creatable: false, readOnly: opts.readOnly });
  }

  /** A fresh tmpfs at sandbox `dst`; `options` are tmpfs's own (mode=, size=). */
  tmpfs(dst: string, options: string, why: Purpose, flags = MS.NOSUID | MS.NODEV): this {
    this.prepare(dst, "dir", why);
    this.push({ op: "MOUNT", source: "tmpfs", target: sandboxPath(dst), fstype: "tmpfs", data: options, flags, noSymlinks: true, why });
    return this.place({ at: dst, creatable: true, readOnly: false });
  }

  /**
   * An overlay at `dst` over host directory `lower` (named to the kernel as `lowerdir`, a held
   * descriptor): host content, writes kept in `upper` (held or staged paths).
   */
  overlay(lower: string, lowerdir: string, dst: string, upper: string, work: string, why: Purpose): this {
    this.prepare(dst, "dir", why);
    const data = `lowerdir=${lowerdir},upperdir=${upper},workdir=${work},userxattr`;
    this.push({ op: "MOUNT", source: "overlay", target: sandboxPath(dst), fstype: "overlay", data, flags: MS.NOSUID | MS.NODEV, noSymlinks: true, why });
    return this.place({ at: dst, host: lower, creatable: true, readOnly: false });
  }

  /**
   * A kernel filesystem (proc, devpts, sysfs) at `dst`: nothing below it is the plan's to create.
   * `shows`: the host path whose tree it shows the same (a fresh sysfs shows the host's /sys),
   * so that what lies below it is known to later options.
   */
  special(fstype: string, dst: string, data: string | undefined, flags: number, why: Purpose, shows?: string): this {
    this.prepare(dst, "dir", why);
    this.push({ op: "MOUNT", source: fstype, target: sandboxPath(dst), fstype, data, flags, noSymlinks: true, why });
    return this.place({ at: dst, creatable: false, readOnly: false, special: true, host: shows });
  }

  /** The writable mounts, as paths inside: the trees Landlock lets the payload write. */
  writableMounts(): string[] {
    return this.placed.filter((p) => p.at !== "/" && !p.readOnly && !p.special).map((p) => p.at);
  }

  /** Make `dst` read-only (and more) after the fact, e.g. a tmpfs that only hides. */
  setattr(dst: string, attrs: number, why: Purpose): this {
    return this.push({ op: "SETATTR", path: sandboxPath(dst), set: attrs, noSymlinks: true, why });
  }

  symlink(target: string, dst: string, why: Purpose): this {
    this.prepare(dst, "parent", why);
    if (this.kindAt(dst) !== "missing") throw refuse(why, `${dst} already exists inside the sandbox`);
    const cover = this.coverOf(dst);
    if (!cover.creatable) {
      throw refuse(why, cover.readOnly ? `${cover.at} is read-only inside` : `${dst} would be created in the shared ${cover.at}; nsbox creates nothing on the host`);
    }
    this.links.set(dst, target);
    return this.push({ op: "SYMLINK", target, linkpath: sandboxPath(dst), noSymlinks: true, why });
  }

  /**
   * The mount that shows `path`: where it is, the host path `path` stands for (binds and
   * overlays), and whether writes there reach the host (a writable bind).
   */
  coverAt(path: string): { at: string; readOnly: boolean; host?: string; writesHost: boolean } {
    const c = this.coverOf(path);
    const host = c.host === undefined ? undefined : c.host + path.slice(c.at === "/" ? 0 : c.at.length);
    return { at: c.at, readOnly: c.readOnly, host, writesHost: host !== undefined && !c.readOnly && !c.creatable && !c.special };
  }

  /** Whether a mount is planned strictly below `path`. */
  mountsBelow(path: string): boolean {
    return this.placed.some((p) => p.at !== path && isAncestorOrSelf(path, p.at));
  }

  /** Where host path `path` shows inside through the binds and overlays placed so far, and through which host source. */
  viewsOf(path: string): Array<{ at: string; host: string }> {
    return this.placed.flatMap((p) => {
      if (p.host === undefined || !isAncestorOrSelf(p.host, path)) return [];
      const rel = p.host === "/" ? path : path.slice(p.host.length);
      const at = p.at === "/" ? rel || "/" : rel === "/" ? p.at : p.at + rel;
      return this.coverOf(at) === p ? [{ at, host: p.host }] : [];
    });
  }

  /** A mount at `at` hides everything planned below it. */
  private place(p: Placed): this {
    const below = (q: string) => q !== p.at && isAncestorOrSelf(p.at, q);
    this.placed = this.placed.filter((q) => !below(q.at));
    // Deleted in place (a Set may lose members while it is iterated): only membership is asked of them.
    for (const q of this.made) if (below(q) || q === p.at) this.made.delete(q);
    for (const q of this.files) if (below(q) || q === p.at) this.files.delete(q);
    for (const q of this.links.keys()) if (below(q)) this.links.delete(q);
    this.placed.push(p);
    return this;
  }

  /** The mount that shows `path`: the deepest one above it, the latest of equals. */
  private coverOf(path: string): Placed {
    let best = this.placed[0]!;
    for (const p of this.placed) if (isAncestorOrSelf(p.at, path) && p.at.length >= best.at.length) best = p;
    return best;
  }
}

function hostKind(path: string): Kind {
  try {
    const st = lstatSync(path, { throwIfNoEntry: false });
    return !st ? "missing" : st.isSymbolicLink() ? "symlink" : st.isDirectory() ? "dir" : "file";
  } catch {
    return "missing";
  }
}

function refuse(why: Purpose, problem: string): NsboxError {
  // An option as the user wrote it ("--ro ./data", or its file entry), else its flag, else the step.
  const origin = why.origin ?? why.option ?? why.what;
  return new NsboxError("BAD_OPTION", `${origin}: ${problem}`, { option: why.option, path: why.path });
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** True when `a` is `b` or one of its ancestors. */
export function isAncestorOrSelf(a: string, b: string): boolean {
  if (a === b || a === "/") return true;
  // `b` starts with `a` and a "/" (no `a + "/"` made: the plan asks this thousands of times).
  return a.endsWith("/") ? b.startsWith(a) : b.length > a.length && b.charCodeAt(a.length) === 47 && b.startsWith(a);
}
