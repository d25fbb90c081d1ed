// PlanBuilder: appends ops in order, with helpers that name host and sandbox paths during setup.
import type { Op, Purpose } from "../ops.ts";

/** Mount flags (mount(2)) and mount attributes (mount_setattr(2)). */
export const MS = { NOSUID: 2, NODEV: 4, NOEXEC: 8, BIND: 4096, REC: 16384, PRIVATE: 1 << 18, SLAVE: 1 << 19 };
export const ATTR = { RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8 };
export const MNT_DETACH = 2;

/**
 * During setup the sandbox's root is built at NEW_ROOT while the host's root is reachable at
 * OLD_ROOT (both inside a private tmpfs, after a first pivot_root); see plan/filesystem.ts.
 */
export const OLD_ROOT = "/oldroot";
export const NEW_ROOT = "/newroot";
export const hostPath = (p: string) => OLD_ROOT + p;
export const sandboxPath = (p: string) => (p === "/" ? NEW_ROOT : NEW_ROOT + p);

export class PlanBuilder {
  readonly ops: Op[] = [];
  /** Directories already created or known to exist in the sandbox's root. */
  private readonly made = new Set<string>(["/"]);

  push(op: Op): this {
    this.ops.push(op);
    return this;
  }

  /** Create `path` and its missing parents in the sandbox's root. */
  mkdirp(path: string, why: Purpose, mode = 0o755): this {
    let at = "";
    for (const part of path.split("/").filter(Boolean)) {
      at += "/" + part;
      if (this.made.has(at)) continue;
      this.made.add(at);
      this.push({ op: "MKDIR", s1: sandboxPath(at), a: mode, why });
    }
    return this;
  }

  /** Bind host `src` at sandbox `dst` (directories and their submounts), optionally read-only. */
  bind(src: string, dst: string, opts: { readOnly: boolean; isDir: boolean; why: Purpose; attrs?: number }): this {
    if (opts.isDir) this.mkdirp(dst, opts.why);
    else {
      this.mkdirp(parentOf(dst), opts.why);
      this.push({ op: "MKFILE", s1: sandboxPath(dst), a: 0o644, why: opts.why });
    }
    this.push({ op: "MOUNT", s1: hostPath(src), s2: sandboxPath(dst), a: MS.BIND | MS.REC, why: opts.why });
    const set = (opts.readOnly ? ATTR.RDONLY : 0) | (opts.attrs ?? ATTR.NOSUID | ATTR.NODEV);
    if (set) this.push({ op: "SETATTR", s1: sandboxPath(dst), a: set, flags: 1, why: opts.why });
    return this;
  }

  /** A fresh tmpfs at sandbox `dst`. */
  tmpfs(dst: string, mode: number, why: Purpose, flags = MS.NOSUID | MS.NODEV): this {
    this.mkdirp(dst, why);
    const data = `mode=${mode.toString(8).padStart(4, "0")}`;
    return this.push({ op: "MOUNT", s1: "tmpfs", s2: sandboxPath(dst), s3: "tmpfs", s4: data, a: flags, why });
  }

  symlink(target: string, dst: string, why: Purpose): this {
    this.mkdirp(parentOf(dst), why);
    this.made.add(dst);
    return this.push({ op: "SYMLINK", s1: target, s2: sandboxPath(dst), why });
  }

  /** Mark a directory as existing (e.g. created by a bind or by the kernel). */
  known(path: string): this {
    this.made.add(path);
    return this;
  }
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** True when `a` is `b` or one of its ancestors. */
export function isAncestorOrSelf(a: string, b: string): boolean {
  return a === b || a === "/" || b.startsWith(a.endsWith("/") ? a : a + "/");
}
