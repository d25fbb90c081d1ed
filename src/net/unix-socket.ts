// Unix sockets named by the payload's connect/sendto/sendmsg (seccomp user notification, see
// src/net/unotify.ts): a path socket made outside the sandbox is refused unless the user named it
// with --allow-socket; one made inside works as before; abstract names stay in the sandbox's netns.
import { readFileSync } from "node:fs";
import type { AllowedSocket } from "../plan/allow-sockets.ts";
import { arch } from "node:os";
import { ptr } from "bun:ffi";
import * as sys from "./sys.ts";
import { inSandbox } from "./unotify.ts";

const { ERRNO } = sys;
const AF_UNIX = 1;
const SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_SEQPACKET = 5;
const SOCK_NONBLOCK = 0o4000, SOCK_CLOEXEC = 0o2000000;
const O_RDONLY = 0, O_NONBLOCK = 0o4000, O_NOFOLLOW = 0o400000, O_DIRECTORY = 0o200000, O_PATH = 0o10000000;
const RESOLVE_NO_MAGICLINKS = 0x02n, RESOLVE_BENEATH = 0x08n, RESOLVE_IN_ROOT = 0x10n;
const S_IFMT = 0o170000, S_IFSOCK = 0o140000;
const SOL_SOCKET = 1, SO_PASSCRED = 16, SO_ACCEPTCONN = 30, SO_RCVTIMEO = 20, SO_SNDTIMEO = 21, SO_PEERPIDFD = 77;
const ENOPROTOOPT = 92, ENOTTY = 25;
/** ioctl(2) numbers: pidfd's PIDFD_GET_PID_NAMESPACE (linux/pidfd.h, 6.11) and nsfs's NS_GET_PARENT (linux/nsfs.h). */
const PIDFD_GET_PID_NAMESPACE = 0xff05, NS_GET_PARENT = 0xb702;
const NR_PIDFD_SEND_SIGNAL = 424;
const NR_BIND = arch() === "x64" ? 49 : 200;
/** sockaddr_un with only the family: bind() to it is autobind. */
const FAMILY_ONLY = new Uint8Array([AF_UNIX, 0]);
/** Deeper than the kernel's 32 nested PID namespaces. */
const MAX_NS_DEPTH = 40;

/** What the dispatcher hands a handler (src/net/unotify.ts `Call`): the fields used here. */
export interface UnixCall {
  n: sys.Notification;
  listener: number;
  pidfd: number;
  sock: number;
  family: number;
  type: number;
  fdFlags: { nonblock: boolean; cloexec: boolean };
  watch(fd: number, events: number): Promise<number>;
}
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

/** The payload's descriptor number the call was made on (its first argument). */
const targetFd = (c: UnixCall) => Number(BigInt.asIntN(32, c.n.args[0]!));

const sameId = (a: { dev: bigint; ino: bigint }, b: { dev: bigint; ino: bigint }) => a.dev === b.dev && a.ino === b.ino;

/**
 * `connect` on the payload's own socket (nsbox's duplicate): for names that stay in the sandbox
 * (abstract names live in its network namespace) and sockets the user allowed. With nsbox's
 * copy of the address; O_NONBLOCK set for the call (nsbox never blocks), and a full backlog
 * retried while the payload waits, as its blocking connect would.
 */
async function connectDuplicate(c: UnixCall, address: Uint8Array): Promise<Reply> {
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    const flags = sys.getFileFlags(c.sock);
    if (flags < 0) return { errno: -flags };
    if (!(flags & O_NONBLOCK)) sys.setFileFlags(c.sock, flags | O_NONBLOCK);
    const r = sys.connect(c.sock, address);
    if (!(flags & O_NONBLOCK)) sys.setFileFlags(c.sock, flags);
    if (r === -ERRNO.EAGAIN! && !(flags & O_NONBLOCK) && sys.notifIdValid(c.listener, c.n.id)) {
      await Bun.sleep(wait);
      continue;
    }
    return r < 0 ? { errno: -r } : { val: 0 };
  }
}

/** connect() of nsbox's own socket `fd` (non-blocking), retried on a full backlog while the payload waits. */
async function connectOwn(c: UnixCall, fd: number, address: Uint8Array): Promise<number> {
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    const r = sys.connect(fd, address);
    if (r === -ERRNO.EAGAIN! && !c.fdFlags.nonblock && sys.notifIdValid(c.listener, c.n.id)) {
      await Bun.sleep(wait);
      continue;
    }
    return r;
  }
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

/** The chain of PID namespaces from the one `nsfd` stands for up to the top nsbox may see: (dev, ino) each. Closes `nsfd`. */
function nsChain(nsfd: number): { dev: bigint; ino: bigint }[] {
  const chain: { dev: bigint; ino: bigint }[] = [];
  let fd = nsfd;
  for (let i = 0; i < MAX_NS_DEPTH && fd >= 0; i++) {
    const id = sys.fstatIds(fd);
    if (typeof id === "number") break;
    chain.push({ dev: id.dev, ino: id.ino });
    const parent = sys.syscall(sys.NR.ioctl, fd, NS_GET_PARENT, 0);
    sys.close(fd);
    fd = parent;
  }
  sys.close(fd);
  return chain;
}

/** The PID namespace of the process behind `pidfd` (a descriptor), or -errno. `pid`: its number in nsbox's namespace, for kernels before 6.11. */
function pidNamespaceOf(pidfd: number, pid: () => number | undefined): number {
  const ns = sys.syscall(sys.NR.ioctl, pidfd, PIDFD_GET_PID_NAMESPACE, 0);
  if (ns !== -ENOTTY && ns !== -ERRNO.EINVAL!) return ns;
  // Before 6.11: by /proc, then the pidfd (which pins the process) must still be alive, so the
  // number was not reused between the two.
  const n = pid();
  if (n === undefined || n <= 0) return -ERRNO.ESRCH!;
  const fd = sys.openPath(`/proc/${n}/ns/pid`, O_RDONLY);
  if (fd >= 0 && sys.syscall(NR_PIDFD_SEND_SIGNAL, pidfd, 0, 0, 0) < 0) {
    sys.close(fd);
    return -ERRNO.ESRCH!;
  }
  return fd;
}

/** The "Pid:" of a pidfd (its number in nsbox's namespace), from /proc/self/fdinfo. */
function pidOfPidfd(pidfd: number): number | undefined {
  try {
    const m = /^Pid:\s*(-?\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${pidfd}`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Security decision: whether the server at the other end of nsbox's connected socket `own` runs
 * in the sandbox. The listener's process (SO_PEERPIDFD: the very process that called listen(),
 * pinned, so a pid number reused by a sandbox process cannot stand for a host server that
 * exited) must be in the sandbox's PID namespace or one below it. The sandbox's is the payload's,
 * or the one of its ancestors just below nsbox's own (a payload in a nested namespace). A
 * listener that has exited, or that nsbox may not inspect (another user's daemon), is outside.
 */
function peerInside(c: UnixCall, own: number): { inside: boolean; why?: string } {
  const mine = sys.openPath("/proc/self/ns/pid", O_RDONLY);
  const self = mine >= 0 ? sys.fstatIds(mine) : mine;
  sys.close(mine);
  if (typeof self === "number") return { inside: false, why: "nsbox could not read its own PID namespace" };
  // The payload's namespaces, from the pidfd the dispatcher holds (checked valid by it).
  const payloadNs = pidNamespaceOf(c.pidfd, () => (sys.notifIdValid(c.listener, c.n.id) ? c.n.pid : undefined));
  if (payloadNs < 0) return { inside: false, why: "nsbox could not read the sandbox's PID namespace" };
  const payload = nsChain(payloadNs);
  const top = payload.findIndex((id) => sameId(id, self));
  if (top < 1) return { inside: false, why: "the sandbox's PID namespace is not below nsbox's" };
  const sandbox = payload[top - 1]!;

  let peer = sys.getsockoptInt(own, SOL_SOCKET, SO_PEERPIDFD);
  let pid: () => number | undefined = () => (peer !== undefined ? pidOfPidfd(peer) : undefined);
  if (peer === undefined) {
    // Before 6.5 there is no SO_PEERPIDFD: SO_PEERCRED's number, opened now. A listener that
    // exited leaves a number another process may have taken since (a residual risk on old kernels).
    const cred = sys.peerCred(own);
    if (typeof cred === "number" || cred.pid <= 0) return { inside: false, why: EXITED };
    const fd = sys.syscall(434 /* pidfd_open, the same on x86_64 and aarch64 */, cred.pid, 0);
    if (fd < 0) return { inside: false, why: EXITED };
    peer = fd;
    pid = () => cred.pid;
  }
  try {
    const ns = pidNamespaceOf(peer, pid);
    if (ns < 0) return { inside: false, why: ns === -ERRNO.ESRCH! ? EXITED : "nsbox may not inspect the process that listens there" };
    return { inside: nsChain(ns).some((id) => sameId(id, sandbox)) };
  } finally {
    sys.close(peer);
  }
}

const EXITED = "the process that listens there has exited";
const TMPFS_MAGIC = 0x01021994;
const NR_FSTATFS = arch() === "x64" ? 138 : 44;

/**
 * Security decision: whether the socket file `opath` lies on a tmpfs that only the sandbox has
 * (its /tmp, /run, a --tmpfs): its device is none of the mounts nsbox's own mount namespace
 * shows. No other user can bind a socket there (their way in, /proc/PID/root of a sandbox
 * process, needs ptrace rights over it), and a host process of the user's only through that same
 * way. Used only when the listening process has exited (a daemon that forked after listen(), as
 * ssh-agent and gpg-agent do): then no process tells where the listener was made, and the place
 * its socket was bound does. Shared directories (binds of host paths) carry the host's devices.
 */
function sandboxOnlyTmpfs(opath: number): boolean {
  const st = sys.fstatIds(opath);
  if (typeof st === "number") return false;
  const statfs = new BigInt64Array(15);
  if (sys.syscall(NR_FSTATFS, opath, ptr(statfs)) < 0 || Number(statfs[0]) !== TMPFS_MAGIC) return false;
  let mountinfo: string;
  try {
    mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return false;
  }
  for (const line of mountinfo.split("\n")) {
    const m = /^\d+ \d+ (\d+):(\d+) /.exec(line);
    if (m && makedev(Number(m[1]), Number(m[2])) === st.dev) return false;
  }
  return true;
}
/** glibc's makedev, as sys.fstatIds gives `dev`. */
const makedev = (major: number, minor: number): bigint =>
  ((BigInt(major) & 0xfffff000n) << 32n) | ((BigInt(major) & 0xfffn) << 8n) | ((BigInt(minor) & 0xffffff00n) << 12n) | (BigInt(minor) & 0xffn);

/** Options of the payload's socket that its replacement keeps (no buffer sizes: setting them turns autotuning off). */
function copyOptions(from: number, to: number): void {
  const passcred = sys.getsockoptInt(from, SOL_SOCKET, SO_PASSCRED);
  if (passcred) sys.setsockoptInt(to, SOL_SOCKET, SO_PASSCRED, passcred);
  for (const name of [SO_RCVTIMEO, SO_SNDTIMEO]) {
    const tv = sys.getsockoptBytes(from, SOL_SOCKET, name, 16);
    if (typeof tv !== "number" && tv.some((b) => b !== 0)) sys.setsockoptBytes(to, SOL_SOCKET, name, tv);
  }
}

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
  const outside = (p: string) => `blocked connect to unix socket ${p} (made outside the sandbox; --allow-socket ${p} allows it)`;

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
        if (allowedId(found.id)) return await connectDuplicate(c, procFd(found.fd));
        if (c.type !== SOCK_STREAM && c.type !== SOCK_SEQPACKET) {
          // A datagram socket connected to a path would send there with no address the filter sees.
          block("connect", path, "datagram socket made outside the sandbox or not checked", (p) => `blocked connect to unix socket ${p} (a datagram socket: only --allow-socket ${p} allows it)`);
          return { errno: ERRNO.ECONNREFUSED! };
        }
        // The kernel's answers for a socket that is connected or listening already: nsbox replaces
        // only a socket that is not yet either (its replacement would drop the connection or the listener).
        if (typeof sys.getpeername(c.sock) !== "number") return { errno: ERRNO.EISCONN! };
        if (sys.getsockoptInt(c.sock, SOL_SOCKET, SO_ACCEPTCONN)) return { errno: ERRNO.EINVAL! };
        return await connectChecked(c, found.fd, path);
      } finally {
        sys.close(found.fd);
      }
    } catch {
      return { errno: ERRNO.EPERM! };
    }
  }

  /**
   * Security decision: nsbox connects ITS OWN socket to the one found, and looks at who listens
   * before the payload gets anything. Made in the sandbox: that socket replaces the payload's
   * (ADDFD SETFD, same number and close-on-exec); else it is closed and the payload is refused,
   * so no host service is ever connected on the payload's socket.
   */
  async function connectChecked(c: UnixCall, opath: number, path: string): Promise<Reply> {
    const own = sys.socket(AF_UNIX, c.type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (own < 0) return { errno: -own };
    try {
      // Security decision: nsbox's socket lives in the HOST's network namespace, whose abstract
      // names (X11's, D-Bus's, an agent's) the payload could then take with bind(): bound now to
      // an anonymous name of the kernel's choosing (autobind), a later bind() is EINVAL.
      const bound = sys.syscall(NR_BIND, own, ptr(FAMILY_ONLY), 2);
      if (bound < 0) return { errno: ERRNO.ECONNREFUSED! };
      copyOptions(c.sock, own);
      const r = await connectOwn(c, own, procFd(opath));
      if (r < 0) return { errno: -r };
      const peer = peerInside(c, own);
      if (!peer.inside && peer.why === EXITED) {
        if (sandboxOnlyTmpfs(opath)) peer.inside = true;
        else peer.why = "the process that listened there has exited, and in a shared directory nsbox cannot tell where it ran (a server inside can listen in /tmp)";
      }
      if (!peer.inside) {
        block("connect", path, peer.why ?? "made outside the sandbox", (p) => (peer.why ? `blocked connect to unix socket ${p} (${peer.why}; --allow-socket ${p} allows it)` : outside(p)));
        return { errno: ERRNO.ECONNREFUSED! };
      }
      if (!c.fdFlags.nonblock) {
        const flags = sys.getFileFlags(own);
        if (flags >= 0) sys.setFileFlags(own, flags & ~O_NONBLOCK);
      }
      if (!sys.notifIdValid(c.listener, c.n.id)) return { errno: ERRNO.ECONNREFUSED! };
      const added = sys.notifAddFd(c.listener, c.n.id, own, targetFd(c), c.fdFlags.cloexec);
      return added < 0 ? { errno: -added } : { val: 0 };
    } finally {
      sys.close(own);
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
      if (!allowedId(found.id)) {
        sys.close(found.fd);
        block("send", path, "datagrams go only to --allow-socket sockets", (p) => `blocked send to unix socket ${p} (datagrams go only to sockets named with --allow-socket ${p})`);
        return { errno: ERRNO.EPERM! };
      }
      // The send happens after this returns: the name stays valid through the descriptor held for the session.
      sys.close(found.fd);
      return { address: procFd(held.get(key(found.id))!) };
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
