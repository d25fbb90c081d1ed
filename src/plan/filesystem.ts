// The default view of the filesystem: a fresh tmpfs root holding only what is placed there.
import { lstatSync, readlinkSync, statSync } from "node:fs";
import type { Host } from "../host.ts";
import { NsboxError } from "../errors.ts";
import { ATTR, MNT_DETACH, MS, NEW_ROOT, OLD_ROOT, OPF, PlanBuilder, isAncestorOrSelf, sandboxPath } from "./builder.ts";
import { devOps } from "./dev.ts";
import { inotifyOps } from "./inotify.ts";
import { stagingOptions, tmpfsOptions } from "./tmpfs.ts";

/** The host's system directories, shared read-only (a symlink, as in merged /usr, stays a symlink). */
export const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"];
/** /proc entries a root in the sandbox could otherwise write to reach the host's kernel. */
const PROC_READ_ONLY = ["sys", "sysrq-trigger", "irq", "bus"];
/** Where the private staging tmpfs is mounted (in the sandbox's own mount namespace). */
const STAGING = "/tmp";

export interface FilesystemChoices {
  propagation: "private" | "slave";
  /** The host directory shared read-write, or null when none is. */
  shareDir: string | null;
  /** $HOME inside: an empty private directory at the real home's path. */
  home: string;
  passwd: string;
  group: string;
}

/** Decide whether the current directory is shared: never `/`, $HOME or a directory above it. */
export function chooseShareDir(host: Host): { dir: string | null; reason?: string } {
  if (isAncestorOrSelf(host.cwd, host.home)) {
    const what = host.cwd === host.home ? "your home directory" : "a directory above your home";
    return { dir: null, reason: `not sharing ${host.cwd}: it is ${what}, which would expose ~/.ssh and the rest; run nsbox from a project directory` };
  }
  return { dir: host.cwd };
}

function kind(path: string): "dir" | "file" | "symlink" | "missing" {
  try {
    const st = lstatSync(path);
    return st.isSymbolicLink() ? "symlink" : st.isDirectory() ? "dir" : "file";
  } catch {
    return "missing";
  }
}

/** Ops that build the default view in the new root, from private propagation to the shared directory. */
export function filesystemOps(b: PlanBuilder, c: FilesystemChoices): void {
  const setup = { what: "set up the sandbox's root" };
  if (kind(STAGING) !== "dir") {
    throw new NsboxError("KERNEL_REFUSED", `${STAGING} does not exist on this host; nsbox stages the sandbox's root there`, { path: STAGING });
  }
  b.push({ op: "MOUNT", s2: "/", a: MS.REC | (c.propagation === "slave" ? MS.SLAVE : MS.PRIVATE), why: { what: `make mount propagation ${c.propagation}`, option: "--propagation" } })
    // Sized by leaveHostOps, once everything staged there is known.
    .push({ op: "MOUNT", s1: "tmpfs", s2: STAGING, s3: "tmpfs", s4: stagingOptions([]), a: MS.NOSUID | MS.NODEV, why: setup })
    .push({ op: "MKDIR", s1: STAGING + NEW_ROOT, a: 0o755, why: setup })
    .push({ op: "MKDIR", s1: STAGING + OLD_ROOT, a: 0o755, why: setup })
    .push({ op: "MOUNT", s1: "tmpfs", s2: STAGING + NEW_ROOT, s3: "tmpfs", s4: tmpfsOptions("skeleton", "0755"), a: MS.NOSUID | MS.NODEV, why: setup })
    .push({ op: "PIVOT_ROOT", s1: STAGING, s2: STAGING + OLD_ROOT, why: setup })
    .push({ op: "CHDIR", s1: "/", why: setup });

  for (const dir of SYSTEM_DIRS) {
    const why = { what: `share ${dir} read-only`, path: dir };
    const k = kind(dir);
    if (k === "symlink") b.symlink(readlinkSync(dir), dir, why);
    else if (k === "dir") b.bind(dir, dir, { readOnly: true, isDir: true, why });
  }
  for (const [file, content] of [["/etc/passwd", c.passwd], ["/etc/group", c.group]] as const) {
    if (kind(file) !== "file") continue;
    const staged = `/nsbox${file.replaceAll("/", "-")}`;
    const why = { what: `provide ${file}`, path: file };
    b.push({ op: "WRITE_FILE", s1: staged, s2: content, a: Buffer.byteLength(content), b: 0o644, flags: 1, why })
      .push({ op: "MOUNT", s1: staged, s2: sandboxPath(file), a: MS.BIND, flags: OPF.NO_SYMLINKS, why })
      .setattr(file, ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV, why);
  }

  const proc = { what: "mount /proc for the sandbox's PID namespace" };
  b.special("proc", "/proc", undefined, MS.NOSUID | MS.NODEV | MS.NOEXEC, proc);
  inotifyOps(b);
  for (const entry of PROC_READ_ONLY) {
    if (kind(`/proc/${entry}`) === "missing") continue;
    const p = sandboxPath(`/proc/${entry}`);
    const why = { what: `protect /proc/${entry}`, path: `/proc/${entry}` };
    b.push({ op: "MOUNT", s1: p, s2: p, a: MS.BIND | MS.REC, flags: OPF.NO_SYMLINKS, why })
      .push({ op: "SETATTR", s1: p, a: ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV | ATTR.NOEXEC, flags: OPF.RECURSIVE | OPF.NO_SYMLINKS, why });
  }

  devOps(b);
  b.tmpfs("/tmp", tmpfsOptions("scratch", "1777"), { what: "make a private /tmp" });
  if (c.home !== "/") b.tmpfs(c.home, tmpfsOptions("scratch", "0700"), { what: `hide your home directory behind an empty ${c.home}`, path: c.home });
  if (c.shareDir) {
    b.bind(c.shareDir, c.shareDir, { readOnly: false, isDir: true, why: { what: `share the current directory ${c.shareDir}`, path: c.shareDir } });
  }
}

/** Leave the host behind: detach its root, make the new root "/", and seal it read-only. */
export function leaveHostOps(b: PlanBuilder): void {
  // pivot_root onto itself stacks the staging tmpfs on top of the new root; the detach removes it.
  const leave = { what: "pivot into the sandbox's root" };
  // The staging tmpfs (the first one mounted) gets room for exactly what was written to it.
  const staging = b.ops.find((o) => o.op === "MOUNT" && o.s1 === "tmpfs" && o.s2 === STAGING);
  const staged = b.ops.filter((o) => o.op === "WRITE_FILE" && !o.s1!.startsWith(NEW_ROOT + "/") && !o.s1!.startsWith(OLD_ROOT + "/"));
  if (staging) staging.s4 = stagingOptions(staged.map((o) => o.a ?? 0));
  b.push({ op: "UMOUNT", s1: OLD_ROOT, a: MNT_DETACH, why: leave })
    .push({ op: "CHDIR", s1: NEW_ROOT, why: leave })
    .push({ op: "PIVOT_ROOT", s1: ".", s2: ".", why: leave })
    .push({ op: "UMOUNT", s1: ".", a: MNT_DETACH, why: leave })
    .push({ op: "CHDIR", s1: "/", why: leave })
    // Nothing new may appear beside what was placed: the root and /dev become read-only.
    .push({ op: "SETATTR", s1: "/", a: ATTR.RDONLY, why: { what: "make the sandbox's root read-only" } })
    .push({ op: "SETATTR", s1: "/dev", a: ATTR.RDONLY, why: { what: "make /dev read-only" } });
}

/** Whether a host directory exists (for validating paths before fork). */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
