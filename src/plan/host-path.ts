// Host paths nsbox reads or mounts: resolved without following a symlink anyone but root could have planted.
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync, realpathSync, type BigIntStats } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileError, fileKind } from "../errno.ts";
import type { Host } from "../host.ts";

/**
 * Which symlinks nsbox follows in a host path it mounts, creates or reads (mount sources, overlay
 * layers, --file contents): only those no sandbox and no other user could have placed. A symlink
 * is followed when the directory holding it belongs to root and no one else may write it (e.g.
 * merged /usr's `/lib -> usr/lib`, Silverblue's `/home -> var/home`, an administrator's
 * `/home/you -> /data/you`): a sandbox's root is the user outside, so it can't write there.
 * When nsbox itself runs as root, a sandbox could have written any such directory that was shared,
 * so only links directly in `/`, `/usr`, `/var`, `/etc` and `/proc` are followed (a project may
 * live deeper, even in /usr/src/app). Every other symlink, the user's own included (a payload
 * writes as the user), is refused with where it leads: the user names the real path. Paths are then used by descriptor or checked identity (see executor/safe_path.c).
 */
const ROOT_TRUSTED_DIRS = new Set(["/", "/usr", "/var", "/etc", "/proc"]);
const MAX_LINKS = 40;

export type Walk =
  | { ok: true; path: string; st: BigIntStats }
  | { ok: false; missing: string; path: string; notDir?: string }
  | { ok: false; link: string; leadsTo: string };

function trustedDir(dir: string, uid: number): boolean {
  try {
    const st = lstatSync(dir);
    return st.isDirectory() && st.uid === 0 && (st.mode & 0o022) === 0 && (uid !== 0 || ROOT_TRUSTED_DIRS.has(dir));
  } catch {
    return false;
  }
}

function leadsTo(link: string): string {
  try {
    return realpathSync(link);
  } catch {
    // A chain ending in no name (/dev/stdin -> /proc/self/fd/0 -> pipe:[123] or a memfd): its last step.
    let at: string | undefined;
    try {
      at = readlinkSync(link);
      for (let i = 0; i < MAX_LINKS && at.startsWith("/"); i++) at = readlinkSync(at);
    } catch {}
    return at ?? "?";
  }
}

/**
 * Resolve the absolute path `path` component by component. Trusted symlinks are followed;
 * `missing` names the first component that does not exist (with `path` what was resolved so
 * far joined with the rest; `notDir` the component that is a file, not a directory, if that is
 * why), `link` the first symlink that is not trusted.
 */
export function walkHostPath(path: string, uid = process.getuid!()): Walk {
  const todo = path.split("/").filter(Boolean);
  let at = "/";
  let hops = 0;
  let st: BigIntStats = lstatSync("/", { bigint: true });
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === ".") continue;
    if (part === "..") {
      at = dirname(at);
      st = lstatSync(at, { bigint: true });
      continue;
    }
    const next = at === "/" ? `/${part}` : `${at}/${part}`;
    let found: BigIntStats | undefined;
    try {
      found = lstatSync(next, { bigint: true, throwIfNoEntry: false });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw e; // EACCES: the caller words it
    }
    if (!found) return { ok: false, missing: next, path: [next, ...todo].join("/") };
    st = found;
    if (st.isSymbolicLink()) {
      if (!trustedDir(at, uid) || ++hops > MAX_LINKS) return { ok: false, link: next, leadsTo: leadsTo(next) };
      const target = readlinkSync(next);
      if (target.startsWith("/")) at = "/";
      todo.unshift(...target.split("/").filter(Boolean));
      st = lstatSync(at, { bigint: true });
      continue;
    }
    if (todo.length > 0 && !st.isDirectory()) return { ok: false, missing: next + "/" + todo[0], path: [next, ...todo].join("/"), notDir: next };
    at = next;
  }
  return { ok: true, path: at, st };
}

/**
 * What a symlink leads to when no name on the host reaches it: /dev/stdin and /proc/self/fd/N
 * name a pipe, a socket, an anonymous inode ("pipe:[123]"), a memfd or a deleted file.
 */
export function notAFile(leadsTo: string): string | undefined {
  const kind = /^(pipe|socket|anon_inode):/.exec(leadsTo)?.[1];
  if (kind !== undefined) return `${kind === "anon_inode" ? "an anonymous inode" : `a ${kind}`} (${leadsTo})`;
  if (leadsTo.startsWith("/memfd:")) return `a file in memory (${leadsTo})`;
  if (leadsTo.endsWith(" (deleted)")) return `a deleted file (${leadsTo})`;
  return undefined;
}

/** A walk that failed on an unreadable directory, worded for a message. */
export function walkError(e: unknown): string {
  return fileError(e);
}

/** The file type bits, device and inode of `st`, as the executor compares them (see safe_path.c). */
export function identity(st: BigIntStats): string {
  const dev = st.dev;
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${Number(st.mode) & 0o170000}:${major}:${minor}:${st.ino}`;
}

export const isDir = (st: BigIntStats) => st.isDirectory();

/**
 * Read a regular file the plan resolved, held from the check to the read: opened without
 * following a symlink and without blocking (a FIFO would hang nsbox), then checked to be a
 * regular file, the one resolved. Throws a message fragment for the caller to place.
 */
export function readChecked(path: string, st: BigIntStats, max: number, tooLarge = `is larger than ${max} bytes`): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === "ELOOP" ? "became a symlink while nsbox read it" : `can't be read: ${fileError(e)}`);
  }
  try {
    const now = fstatSync(fd, { bigint: true });
    if (!now.isFile()) throw new Error(`is ${fileKind(now.mode)}, not a regular file`);
    if (now.dev !== st.dev || now.ino !== st.ino) throw new Error("changed while nsbox read it");
    // O_NOFOLLOW guards the last name only, and the walk looked each name up from `/`: a directory
    // on the way swapped for a symlink (`conf -> ~/.ssh`) between the walk's steps and until this
    // open showed the walk, then this open, ~/.ssh/config itself, and its identity matched. The
    // descriptor says where the open really went: it must be the path resolved.
    let opened: string | undefined;
    try {
      opened = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {}
    if (opened !== undefined && opened !== path) throw new Error(`led to ${opened} when opened (a directory on the way became a symlink)`);
    // Read to the end, not to the size: /proc and /sys files say 0.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      let n: number;
      try {
        n = readSync(fd, chunk, 0, chunk.length, null);
      } catch (e) {
        throw new Error(`can't be read: ${fileError(e)}`);
      }
      if (n <= 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > max) throw new Error(tooLarge);
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/** `~` is the real home; a relative path is relative to the current directory. */
export function expandPath(path: string, host: Host): string {
  if (path === "~") return host.home;
  if (path.startsWith("~/")) return join(host.home, path.slice(2));
  return resolve(host.cwd, path);
}
