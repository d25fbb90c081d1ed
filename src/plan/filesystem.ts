// The default view of the filesystem: a fresh tmpfs root holding only what is placed there.
import { lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync, type Dirent } from "node:fs";
import { join } from "node:path";
import type { Host } from "../host.ts";
import { NsboxError } from "../errors.ts";
import { contentLength, type OpOf } from "../ops.ts";
import { ATTR, MNT_DETACH, MS, NEW_ROOT, OLD_ROOT, PlanBuilder, isAncestorOrSelf, sandboxPath } from "./builder.ts";
import { devOps } from "./dev.ts";
import { PROTECTED } from "./protected.ts";
import { inotifyOps } from "./inotify.ts";
import { ipcOps } from "./ipc.ts";
import { sysOps } from "./sys.ts";
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
  /** Whether PID 1 may set the IPC namespace's limits: the kernel lets only its root uid (ipc.ts). */
  ipcLimits: boolean;
  /** Whether the sandbox has a network namespace of its own (not --net host): /sys is then a fresh sysfs (sys.ts). */
  ownNetwork: boolean;
}

/** Where the kernel's and the session's own files live: never a project (checked with what is below). */
const NEVER_BELOW = ["/proc", "/sys", "/dev", "/run"];
/** Directories every user shares: a project may be below them, never them. */
const SHARED_TMP = ["/tmp", "/var/tmp"];

/**
 * Decide whether the current directory is shared. Never `/`, $HOME or a directory above it (a
 * note: it is not shared). Refused outright, unless an option covers it (`coveredByOption`),
 * when it is not a project: a runtime or kernel directory, a directory shared by every user,
 * one writable by others or owned by someone else, one holding Unix sockets (agents, tmux), or
 * a protected directory such as `.git` (plan/protected.ts). Shared read-write, each of them
 * gives the payload a way out: /tmp holds tmux's and X11's sockets, /run/user/UID the
 * ssh-agent and D-Bus, /proc the host's processes.
 */
export function chooseShareDir(host: Host, coveredByOption = false, library = false): { dir: string | null; reason?: string } {
  const cwd = host.cwd;
  // The system's own directories first: /tmp is refused even when $HOME is below it.
  const system = systemDir(host);
  if (system === undefined && isAncestorOrSelf(cwd, host.home)) {
    const what = cwd === host.home ? "your home directory" : "a directory above your home";
    return { dir: null, reason: `not sharing ${cwd}: it is ${what}, which would expose ~/.ssh and the rest; run nsbox from a project directory` };
  }
  const problem = system ?? notAProject(host);
  if (problem === undefined) return { dir: cwd };
  if (coveredByOption) return { dir: null };
  // The system's own trees (/proc, /run, the runtime directory) cannot be meant: no --rw hint.
  let meant = system !== undefined && !SHARED_TMP.includes(cwd) ? "" : " if you really mean to share it";
  // Another user's directory (/usr/share/doc) is for reading: suggest sharing it read-only.
  const kind = problem.startsWith("it belongs to uid") ? "ro" : "rw";
  if (kind === "ro") meant = " to see it read-only";
  if (library) {
    const share = meant && `, or mounts: [{ kind: "${kind}", source: ${JSON.stringify(cwd)} }]${meant}`;
    throw new NsboxError("BAD_OPTION", `cwd ${cwd}: not sharing it: ${problem}; give cwd a project directory, or noCwd: true to share nothing${share}`, { option: "cwd", path: cwd });
  }
  const share = meant && `, or --${kind} ${cwd}${meant}`;
  throw new NsboxError("BAD_OPTION", `not sharing the current directory ${cwd}: ${problem}; run nsbox from a project directory, or add --no-cwd to share nothing${share}`, { option: "--no-cwd", path: cwd });
}

/** Why the current directory is one of the system's or the session's own, if it is. */
function systemDir(host: Host): string | undefined {
  const cwd = host.cwd;
  // $XDG_RUNTIME_DIR as set, unless it is so high up (/, or above $HOME) that it names no runtime directory.
  const xdg = host.env.XDG_RUNTIME_DIR;
  const runtime = [`/run/user/${host.uid}`, ...(xdg?.startsWith("/") && !isAncestorOrSelf(xdg, host.home) ? [xdg] : [])];
  const below = NEVER_BELOW.find((d) => isAncestorOrSelf(d, cwd)) ?? runtime.find((d) => isAncestorOrSelf(d, cwd));
  if (below) return `it is ${below === cwd ? "" : "below "}${below}, where the system and your session keep their sockets and kernel files`;
  if (SHARED_TMP.includes(cwd)) return "every user shares it (tmux, X11 and agents keep their sockets there)";
  return undefined;
}

/** Why the current directory is not a project, if it is not (after systemDir and the home check). */
function notAProject(host: Host): string | undefined {
  const cwd = host.cwd;
  let st;
  try {
    st = lstatSync(cwd);
  } catch {
    return undefined; // gone: the plan reports it
  }
  // ~/.config, ~/.local, ~/.ssh, a ~/.dotfiles that ~/.bashrc links into: what is there is
  // your tools' configuration and credentials, run or obeyed at the next shell, editor or git.
  const dot = homeDotDir(cwd, host.home);
  if (dot) return `it is inside ${dot}, where your tools keep their configuration and credentials (and run what is there)`;
  const linked = homeDotLink(cwd, host.home);
  if (linked) return `${linked} leads into it, so it holds what your shell and tools run or obey (and maybe nsbox's trust store)`;
  if (st.uid !== host.uid) return `it belongs to uid ${st.uid}, not to you`;
  // The fix when it is the user's project after all: name it, not only the ways around it.
  if (st.mode & 0o002) return `other users can write to it (if it is your project: chmod o-w ${cwd})`;
  if (st.mode & 0o020 && !privateGroup(st.gid, host)) return `the group ${st.gid} can write to it (if it is your project: chmod g-w ${cwd})`;
  const dir = protectedComponent(cwd);
  if (dir) return `it is inside ${dir}, whose files the host runs (git hooks, editor tasks)`;
  try {
    const socket = readdirSync(cwd, { withFileTypes: true }).find((e) => e.isSocket());
    if (socket) return `it holds the Unix socket ${socket.name} (a server or agent of yours: if it is your project, have it listen elsewhere, as ./run/${socket.name}, and name that with --allow-socket when the sandbox needs it)`;
  } catch {}
  return undefined;
}

/** The hidden directory of $HOME (`~/.config`) that `path` is in or is, as a path. */
function homeDotDir(path: string, home: string): string | undefined {
  if (home === "/" || !isAncestorOrSelf(home, path) || path === home) return undefined;
  const first = path.slice(home.length + 1).split("/")[0]!;
  return first.startsWith(".") ? join(home, first) : undefined;
}

/**
 * The hidden entry of $HOME (`~/.config`, `~/.bashrc`), or entry of `~/.config` or
 * `~/.local/bin`, that is a symlink into `path`, or to a directory that holds it (other than
 * $HOME and the directories above it). GNU stow, chezmoi's symlink mode and yadm make `~/.config ->
 * dotfiles/config` with a plain `~/dotfiles`: shared from there, the payload wrote your shell's
 * and git's configuration and nsbox's own trust store, which the next run in any project obeys.
 */
function homeDotLink(path: string, home: string): string | undefined {
  // Stow folds into a ~/.config that exists already: its links are one level down
  // (~/.config/git -> ../dotfiles/git/.config/git); ~/.local/bin is on PATH.
  const links: string[] = [];
  for (const [dir, all] of [[home, false], [join(home, ".config"), true], [join(home, ".local/bin"), true]] as const) {
    try {
      // The directory's own record of each entry's type spares an lstat of every dotfile: only
      // links, and entries whose type the file system does not record (DT_UNKNOWN), are looked at.
      const entries = readdirSync(dir, { withFileTypes: true }).filter((d) => all || (d.name.startsWith(".") && d.name !== "." && d.name !== "..")).slice(0, 1000);
      links.push(...entries.filter((d) => d.isSymbolicLink() || !knownType(d)).map((d) => join(dir, d.name)));
    } catch {}
  }
  for (const link of links) {
    try {
      if (!lstatSync(link).isSymbolicLink()) continue;
      const real = realpathSync(link);
      // The second: inside what the link names, as inside ~/.config itself (not `~/.x -> /`).
      if (isAncestorOrSelf(path, real) || (isAncestorOrSelf(real, path) && !isAncestorOrSelf(real, home))) return link;
    } catch {}
  }
  return undefined;
}

/** Whether the directory entry says what it is (a file system may leave the type unknown). */
const knownType = (d: Dirent) => d.isFile() || d.isDirectory() || d.isSymbolicLink() || d.isFIFO() || d.isSocket() || d.isCharacterDevice() || d.isBlockDevice();

/** A group only the user is in (user private groups, umask 002): group-writable is then fine. */
function privateGroup(gid: number, host: Host): boolean {
  if (gid !== host.gid) return false;
  try {
    const others = readFileSync("/etc/passwd", "utf8").split("\n").map((l) => l.split(":"))
      .filter((f) => f.length >= 7 && Number(f[3]) === gid && Number(f[2]) !== host.uid);
    const members = readFileSync("/etc/group", "utf8").split("\n").map((l) => l.split(":"))
      .find((f) => f.length >= 4 && Number(f[2]) === gid)?.[3]?.split(",").filter((m) => m && m !== host.user) ?? [];
    return others.length === 0 && members.length === 0;
  } catch {
    return false;
  }
}

/** The first component of `path` that is a protected directory (`.git`, `.vscode`, …), as a path. */
function protectedComponent(path: string): string | undefined {
  const parts = path.split("/");
  const names = new Set([...PROTECTED.map((p) => p.path), "hooks"]);
  const i = parts.findIndex((p, n) => n > 0 && names.has(p) && (p !== "hooks" || parts[n - 1] === ".git"));
  return i < 0 ? undefined : parts.slice(0, i + 1).join("/");
}

function kind(path: string): "dir" | "file" | "symlink" | "missing" {
  try {
    const st = lstatSync(path, { throwIfNoEntry: false });
    return !st ? "missing" : st.isSymbolicLink() ? "symlink" : st.isDirectory() ? "dir" : "file";
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
  b.push({ op: "MOUNT", target: "/", flags: MS.REC | (c.propagation === "slave" ? MS.SLAVE : MS.PRIVATE), why: { what: `make mount propagation ${c.propagation}`, option: "--propagation" } })
    // Sized by leaveHostOps, once everything staged there is known.
    .push({ op: "MOUNT", source: "tmpfs", target: STAGING, fstype: "tmpfs", data: stagingOptions([]), flags: MS.NOSUID | MS.NODEV, why: setup })
    .push({ op: "MKDIR", path: STAGING + NEW_ROOT, mode: 0o755, why: setup })
    .push({ op: "MKDIR", path: STAGING + OLD_ROOT, mode: 0o755, why: setup })
    .push({ op: "MOUNT", source: "tmpfs", target: STAGING + NEW_ROOT, fstype: "tmpfs", data: tmpfsOptions("skeleton", "0755"), flags: MS.NOSUID | MS.NODEV, why: setup })
    .push({ op: "PIVOT_ROOT", newRoot: STAGING, putOld: STAGING + OLD_ROOT, why: setup })
    .push({ op: "CHDIR", path: "/", why: setup });

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
    b.push({ op: "WRITE_FILE", path: staged, content, mode: 0o644, create: true, why })
      .push({ op: "MOUNT", source: staged, target: sandboxPath(file), flags: MS.BIND, noSymlinks: true, why })
      .setattr(file, ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV, why);
  }

  const proc = { what: "mount /proc for the sandbox's PID namespace" };
  b.special("proc", "/proc", undefined, MS.NOSUID | MS.NODEV | MS.NOEXEC, proc);
  inotifyOps(b);
  if (c.ipcLimits) ipcOps(b);
  for (const entry of PROC_READ_ONLY) {
    if (kind(`/proc/${entry}`) === "missing") continue;
    const p = sandboxPath(`/proc/${entry}`);
    const why = { what: `protect /proc/${entry}`, path: `/proc/${entry}` };
    b.push({ op: "MOUNT", source: p, target: p, flags: MS.BIND | MS.REC, noSymlinks: true, why })
      .push({ op: "SETATTR", path: p, set: ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV | ATTR.NOEXEC, recursive: true, noSymlinks: true, why });
  }
  sysOps(b, c.ownNetwork);

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
  const staging = b.ops.find((o): o is OpOf<"MOUNT"> => o.op === "MOUNT" && o.source === "tmpfs" && o.target === STAGING);
  const staged = b.ops.filter((o): o is OpOf<"WRITE_FILE"> => o.op === "WRITE_FILE" && !o.path.startsWith(NEW_ROOT + "/") && !o.path.startsWith(OLD_ROOT + "/"));
  if (staging) staging.data = stagingOptions(staged.map((o) => contentLength(o.content)));
  b.push({ op: "UMOUNT", path: OLD_ROOT, flags: MNT_DETACH, why: leave })
    .push({ op: "CHDIR", path: NEW_ROOT, why: leave })
    .push({ op: "PIVOT_ROOT", newRoot: ".", putOld: ".", why: leave })
    .push({ op: "UMOUNT", path: ".", flags: MNT_DETACH, why: leave })
    .push({ op: "CHDIR", path: "/", why: leave })
    // Nothing new may appear beside what was placed: the root and /dev become read-only.
    .push({ op: "SETATTR", path: "/", set: ATTR.RDONLY, why: { what: "make the sandbox's root read-only" } })
    .push({ op: "SETATTR", path: "/dev", set: ATTR.RDONLY, why: { what: "make /dev read-only" } });
}

/** Whether a host directory exists (for validating paths before fork). */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false;
  }
}
