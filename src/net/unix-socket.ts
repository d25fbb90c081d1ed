// Unix sockets named by the payload's connect/sendto/sendmsg (seccomp user notification, see
// src/net/unotify.ts): a path socket made outside the sandbox is refused unless the user named it
// with --allow-socket, and nsbox never connects to it to find out (src/net/unix-diag.ts asks the
// kernel which sockets the sandbox's network namespace holds); one made inside is reached on the
// payload's own socket; abstract names stay in the sandbox's netns.
import { readFileSync } from "node:fs";
import type { AllowedSocket } from "../plan/allow-sockets.ts";
import * as sys from "./sys.ts";
import { connectInterruptible } from "./interrupt.ts";
import { inSandbox, type Call } from "./unotify.ts";
import { sandboxSocketBoundTo } from "./unix-diag.ts";

const { ERRNO } = sys;
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const O_NOFOLLOW = 0o400000, O_DIRECTORY = 0o200000, O_PATH = 0o10000000;
const RESOLVE_NO_MAGICLINKS = 0x02n, RESOLVE_BENEATH = 0x08n, RESOLVE_IN_ROOT = 0x10n;
const S_IFMT = 0o170000, S_IFSOCK = 0o140000;

/** What the dispatcher hands a handler: src/net/unotify.ts `Call`, one shape for every handler. */
export type UnixCall = Call;
export type Reply = { val: number } | { errno: number };

/** A refusal, for the end-of-run report and --net-log (src/net/session.ts). */
export interface UnixBlock {
  action: "block";
  protocol: "unix";
  /** The path as the payload named it. */
  path: string;
  /** "connect" or "send". */
  call: "connect" | "send";
  reason: string;
  /** The sentence for the user. */
  message: string;
}

export interface UnixPolicy {
  /** --allow-socket's sockets, resolved at start (plan.egress.allowSockets). */
  allowed: readonly AllowedSocket[];
  report(block: UnixBlock): void;
  /** The sandbox's NETLINK_SOCK_DIAG socket (plan op LISTEN_TCP diag; owned by the handlers from here, closed by close()). */
  diag?: number;
}

export interface UnixHandlers {
  connectUnix(c: UnixCall, to: { path: Uint8Array; abstract: boolean }): Promise<Reply>;
  /** The AF_UNIX half of NotifyHandlers.sendDestination: the address the send is executed with, or an errno. */
  sendDestination(c: UnixCall, to: { family: 1; path?: string | Uint8Array; abstract?: boolean }): Promise<{ address: Uint8Array } | { errno: number }>;
  /** Close the descriptors held for datagram sends to allowed sockets (at the end of the session). */
  close(): void;
}

const bytesOf = (p: string | Uint8Array | undefined): Uint8Array => (p === undefined ? new Uint8Array(0) : typeof p === "string" ? new TextEncoder().encode(p) : p);
const text = (p: Uint8Array) => new TextDecoder().decode(p);
/**
 * A path the payload chose, for a line on the user's terminal: control characters (an escape
 * sequence that rewrites the screen) as \xNN, at most 255 characters.
 */
const printable = (p: string) => {
  const shown = p.replace(/[\x00-\x1f\x7f-\x9f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return shown.length > 255 ? `${shown.slice(0, 255)}…` : shown;
};

/** sockaddr_un of a path (NUL-terminated) or of an abstract name (a leading NUL, exact length). */
export function unixAddress(name: Uint8Array, abstract: boolean): Uint8Array {
  const b = new Uint8Array(2 + (abstract ? 1 : 0) + name.length + (abstract ? 0 : 1));
  b[0] = AF_UNIX;
  b.set(name, abstract ? 3 : 2);
  return b;
}
const procFd = (fd: number) => unixAddress(new TextEncoder().encode(`/proc/self/fd/${fd}`), false);

const sameId = (a: { dev: bigint; ino: bigint }, b: { dev: bigint; ino: bigint }) => a.dev === b.dev && a.ino === b.ino;

/**
 * `connect` on the payload's own socket (nsbox's duplicate): for names that stay in the sandbox
 * (abstract names live in its network namespace), path sockets made inside, and sockets the
 * user allowed. With nsbox's copy of the address, on a thread of its own with the socket's own
 * flags (Call.connect): nsbox's main thread never blocks on a file the payload shares (a
 * payload thread may clear O_NONBLOCK at any moment), and a blocking socket waits for a full
 * backlog as its own connect would.
 */
async function connectDuplicate(c: UnixCall, address: Uint8Array, hold?: number): Promise<Reply> {
  // Ctrl-C ends a connect waiting for a full backlog with EINTR, as a TCP one (src/net/interrupt.ts).
  const r = await connectInterruptible(c, c.sock, address, hold);
  return r < 0 ? { errno: -r } : { val: 0 };
}

/**
 * The payload's path as the payload sees it, opened O_PATH: an absolute path inside its root
 * (RESOLVE_IN_ROOT: `..` and absolute symlinks stop at its `/`), a relative one from its current
 * directory (RESOLVE_BENEATH; one that leaves it is looked up again from the root, joined to the
 * directory's path as the payload sees it). Magic links (/proc/self/fd/N) are not followed: the
 * payload's /proc is its own, but nsbox resolving one would reach nsbox's. /proc/PID/* is opened
 * only while the notification is pending (ID_VALID before and after): then PID is still the
 * thread that made the call, not a process that took its number. A descriptor, or -errno.
 */
function openAsPayload(c: UnixCall, path: Uint8Array): number {
  const absolute = path[0] === 0x2f;
  const dir = (which: "root" | "cwd"): number => {
    if (!sys.notifIdValid(c.listener, c.n.id)) return -ERRNO.ESRCH!;
    const fd = sys.openPath(`/proc/${c.n.pid}/${which}`, O_PATH | O_DIRECTORY);
    if (fd >= 0 && !sys.notifIdValid(c.listener, c.n.id)) {
      sys.close(fd);
      return -ERRNO.ESRCH!;
    }
    return fd;
  };
  const inRoot = (p: Uint8Array): number => {
    const root = dir("root");
    if (root < 0) return root;
    try {
      let r = -ERRNO.EAGAIN!;
      for (let i = 0; i < 3 && r === -ERRNO.EAGAIN!; i++) r = sys.openat2(root, p, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
      return r;
    } finally {
      sys.close(root);
    }
  };
  if (absolute) return inRoot(path);
  const cwd = dir("cwd");
  if (cwd < 0) return cwd;
  let r: number;
  try {
    r = sys.openat2(cwd, path, O_PATH, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
  } finally {
    sys.close(cwd);
  }
  if (r !== -18 /* EXDEV: `..` above the directory, or an absolute symlink */ && r !== -ERRNO.EAGAIN!) return r;
  // The directory as the payload names it: for a process in another mount namespace, the kernel
  // gives the path from that namespace's root (its pivot_root), which is what RESOLVE_IN_ROOT needs.
  let at: string;
  try {
    const { readlinkSync } = require("node:fs") as typeof import("node:fs");
    if (!sys.notifIdValid(c.listener, c.n.id)) return -ERRNO.ESRCH!;
    at = readlinkSync(`/proc/${c.n.pid}/cwd`);
  } catch {
    return -ERRNO.ENOENT!;
  }
  if (!at.startsWith("/") || at.endsWith(" (deleted)")) return -ERRNO.ENOENT!;
  return inRoot(new Uint8Array([...new TextEncoder().encode(at === "/" ? "/" : `${at}/`), ...path]));
}

/**
 * The file behind `opath` as the kernel names it for sock_diag: its inode's own number (fdinfo
 * `ino:`) and its superblock's device, which stat(2) does not give on overlayfs (a layer's
 * device for a file) or btrfs (a subvolume's): the major:minor of its mount (fdinfo `mnt_id:`)
 * in the payload's /proc/PID/mountinfo, read while the notification is pending. Both are the
 * kernel's own text; a mount id is unique system-wide, so no line can name another mount.
 * stat(2)'s device is kept beside it (the same on most file systems).
 */
function identity(c: UnixCall, opath: number, st: { dev: bigint; ino: bigint }): { devs: bigint[]; ino: bigint } {
  const devs = [st.dev];
  let ino = st.ino;
  try {
    const info = readFileSync(`/proc/self/fdinfo/${opath}`, "utf8");
    const i = /^ino:\s*(\d+)$/m.exec(info);
    if (i) ino = BigInt(i[1]!);
    const mnt = /^mnt_id:\s*(\d+)$/m.exec(info);
    if (mnt && sys.notifIdValid(c.listener, c.n.id)) {
      const mountinfo = readFileSync(`/proc/${c.n.pid}/mountinfo`, "utf8");
      if (sys.notifIdValid(c.listener, c.n.id)) {
        const m = new RegExp(`^${mnt[1]} \\d+ (\\d+):(\\d+) .*? - (\\S+) `, "m").exec(mountinfo);
        // Not on btrfs: its inode numbers are per subvolume, and the superblock's device is every
        // subvolume's, so (that device, a number) names a file in each subvolume. A payload that
        // makes a subvolume (no privilege needed) and binds its first socket (inode 257) would match
        // a host socket numbered 257 in another subvolume. There stat(2)'s device (the subvolume's)
        // never equals the superblock's: no socket on btrfs is found inside (refused, never let through).
        if (m && m[3] !== "btrfs") devs.push(makedev(Number(m[1]), Number(m[2])));
      }
    }
  } catch {}
  return { devs, ino };
}
/** glibc's makedev: a device number as stat(2) gives it. */
const makedev = (major: number, minor: number): bigint =>
  ((BigInt(major) & 0xfffff000n) << 32n) | ((BigInt(major) & 0xfffn) << 8n) | ((BigInt(minor) & 0xffffff00n) << 12n) | (BigInt(minor) & 0xffn);

/** The handlers for one sandbox's Unix sockets. */
export function unixSocketHandlers(policy: UnixPolicy): UnixHandlers {
  /**
   * Security decision: each allowed socket is held (O_PATH) from here to close(): a held inode
   * keeps its number, so no socket made later (by another host program, after the allowed one
   * was removed) can take the (dev, ino) the user allowed. One that is no longer the socket the
   * plan resolved is not allowed at all. Datagram sends name the held descriptor (/proc/self/fd/N).
   */
  const held = new Map<string, number>();
  const key = (id: { dev: bigint; ino: bigint }) => `${id.dev}:${id.ino}`;
  for (const a of policy.allowed) {
    const fd = sys.openPath(a.path, O_PATH | O_NOFOLLOW);
    const st = fd >= 0 ? sys.fstatIds(fd) : fd;
    if (typeof st !== "number" && (st.mode & S_IFMT) === S_IFSOCK && sameId(st, a)) held.set(key(a), fd);
    else sys.close(fd);
  }
  const allowedId = (id: { dev: bigint; ino: bigint }) => held.has(key(id));
  const block = (call: UnixBlock["call"], path: string, reason: string, message: (shown: string) => string) => {
    try {
      policy.report({ action: "block", protocol: "unix", path, call, reason, message: message(printable(path)) });
    } catch {}
  };
  /** The sandbox's NETLINK_SOCK_DIAG socket (owned from here to close()), or -1: then no path socket is "inside". */
  const diag = policy.diag ?? -1;
  /**
   * Security decision: a path socket is made inside iff a socket of the sandbox's network
   * namespace is bound to that very file (src/net/unix-diag.ts). Asked of the kernel, never of
   * the socket: nsbox connects to nothing before it knows (a connection alone is an action for
   * a socket-activated unit or an accept-and-fork server). A server that forked after listen()
   * and exited is still inside (its socket stays in the namespace); a host process's socket is
   * never listed, wherever its file lies and whoever listens on it.
   */
  const madeInside = (c: UnixCall, found: { fd: number; id: { dev: bigint; ino: bigint } }): { inside: true } | { inside: false; why: string } => {
    const r = sandboxSocketBoundTo(diag, identity(c, found.fd, found.id));
    if ("error" in r) return { inside: false, why: `nsbox could not check where it was made: ${r.error}` };
    return r.bound ? { inside: true } : { inside: false, why: "made outside the sandbox" };
  };

  /** The path resolved as the payload sees it, with its identity: a descriptor to close, or an errno to answer. */
  const resolve = (c: UnixCall, path: Uint8Array): { fd: number; id: { dev: bigint; ino: bigint } } | { errno: number } => {
    const fd = openAsPayload(c, path);
    if (fd < 0) return { errno: fd === -ERRNO.ESRCH! ? ERRNO.ECONNREFUSED! : -fd };
    const st = sys.fstatIds(fd);
    if (typeof st === "number" || (st.mode & S_IFMT) !== S_IFSOCK) {
      sys.close(fd);
      // The kernel's answer for a path that is no socket.
      return { errno: ERRNO.ECONNREFUSED! };
    }
    return { fd, id: { dev: st.dev, ino: st.ino } };
  };

  async function connectUnix(c: UnixCall, to: { path: Uint8Array; abstract: boolean }): Promise<Reply> {
    try {
      // Abstract names are per network namespace: on the payload's socket they stay in the sandbox's.
      if (to.abstract) {
        // Only on a socket of the sandbox's namespace: one nsbox installed lives in the host's.
        if (!inSandbox(c.sock)) return { errno: ERRNO.EPERM! };
        return await connectDuplicate(c, unixAddress(to.path, true));
      }
      // sun_path empty: the kernel's own answer (EINVAL), reached on the duplicate with no name.
      if (to.path.length === 0) return await connectDuplicate(c, unixAddress(to.path, false).subarray(0, 2));
      const path = text(to.path);
      const found = resolve(c, to.path);
      if ("errno" in found) return found;
      try {
        const decided = allowedId(found.id) ? ({ inside: true } as const) : madeInside(c, found);
        if (!decided.inside) {
          block("connect", path, decided.why, (p) => `blocked connect to unix socket ${p} (${decided.why}; --allow-socket ${p} allows it)`);
          return { errno: ERRNO.ECONNREFUSED! };
        }
        // The payload's own socket, its options and its descriptor, connected with nsbox's copy
        // of the name: the inode found, held open (/proc/self/fd/N), not the path again. The
        // connecting thread holds its own copy of that descriptor until its connect returns: a
        // connect waiting for a full backlog looks the name up again after each wait, also after
        // the payload was answered EINTR, and found.fd is closed below at once.
        const hold = sys.dupCloexec(found.fd);
        if (hold < 0) return { errno: -hold };
        return await connectDuplicate(c, procFd(hold), hold);
      } finally {
        sys.close(found.fd);
      }
    } catch {
      return { errno: ERRNO.EPERM! };
    }
  }

  async function sendDestination(c: UnixCall, to: { family: 1; path?: string | Uint8Array; abstract?: boolean }): Promise<{ address: Uint8Array } | { errno: number }> {
    try {
      const name = bytesOf(to.path);
      if (to.abstract) return { address: unixAddress(name, true) };
      // A stream socket refuses an address (EISCONN, EOPNOTSUPP) and a seqpacket one ignores it: the kernel's answer, unchanged.
      if (c.type !== SOCK_DGRAM) return { address: unixAddress(name, false) };
      if (name.length === 0) return { errno: ERRNO.EINVAL! };
      const path = text(name);
      const found = resolve(c, name);
      if ("errno" in found) return found;
      const allowed = held.get(key(found.id));
      if (allowed !== undefined) {
        // The send happens after this returns: the name stays valid through the descriptor held for the session.
        sys.close(found.fd);
        return { address: procFd(allowed) };
      }
      const decided = madeInside(c, found);
      if (!decided.inside) {
        sys.close(found.fd);
        block("send", path, decided.why, (p) => `blocked send to unix socket ${p} (${decided.why}; --allow-socket ${p} allows it)`);
        return { errno: ERRNO.EPERM! };
      }
      // The dispatcher sends as soon as this resolves, in the same turn of the event loop
      // (src/net/unotify.ts sendOne: no await between): the descriptor named is closed after it.
      const fd = found.fd;
      setImmediate(() => sys.close(fd));
      return { address: procFd(fd) };
    } catch {
      return { errno: ERRNO.EPERM! };
    }
  }

  return {
    connectUnix,
    sendDestination,
    close() {
      for (const fd of held.values()) sys.close(fd);
      held.clear();
      if (diag >= 0) sys.close(diag);
    },
  };
}

/**
 * `base` (the egress handlers, or unotify's insideOnly) with the Unix-socket policy in front:
 * connectUnix, and sends naming an AF_UNIX address, go here; every other family to `base`.
 * `close()` releases what the Unix side holds (call it when the sandbox ends).
 */
export function withUnixSockets<H extends { connectUnix: UnixHandlers["connectUnix"]; sendDestination(c: any, to: any): Promise<{ address: Uint8Array } | { errno: number }> }>(base: H, policy: UnixPolicy): H & { close(): void } {
  const unix = unixSocketHandlers(policy);
  return {
    ...base,
    connectUnix: unix.connectUnix,
    sendDestination: (c: UnixCall, to: { family: number }) => (to.family === AF_UNIX ? unix.sendDestination(c, to as { family: 1 }) : base.sendDestination(c, to)),
    close: unix.close,
  };
}

/**
 * A report for a run with no network session: each refusal once per path, as a note (the CLI
 * prints notes; the library when verbose).
 */
export function noteOnce(note: (line: string) => void): (block: UnixBlock) => void {
  const seen = new Set<string>();
  return (block) => {
    const key = `${block.call}\0${block.path}`;
    if (seen.has(key) || seen.size > 1000) return;
    seen.add(key);
    note(block.message);
  };
}
