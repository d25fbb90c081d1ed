// The seccomp user-notification dispatcher: every connect, sendto with an address, sendmsg and
// sendmmsg of the payload comes here (src/plan/seccomp-notify.ts), and nsbox executes it itself
// on its own copy of the arguments, on a duplicate of the payload's socket, or answers an errno.
// Never SECCOMP_USER_NOTIF_FLAG_CONTINUE: another thread of the payload could rewrite the
// address between nsbox's check and the kernel's own read.
import * as sys from "./sys.ts";
import type { Notification } from "./sys.ts";
import { AF, decodeSockaddr, encodeInet, encodeUnix } from "./sockaddr.ts";
import { connectInterruptible, INTERRUPTED, watchInterruptible } from "./interrupt.ts";
import { readNotifications, type Served } from "./watcher.ts";

export type { Notification, Served };

/** One trapped call, as the handlers see it. */
export interface Call {
  n: Notification;
  listener: number;
  pidfd: number;
  /** nsbox's duplicate of the payload's socket (closed by the dispatcher after the handler). */
  sock: number;
  family: number;
  type: number;
  /** The payload's descriptor's flags (from /proc/PID/fdinfo/N). */
  fdFlags: { nonblock: boolean; cloexec: boolean };
  /** Resolves with the revents once `fd` is ready for `events` (poll(2) bits), or with what `cancel` resolves with first (the watcher forgets `fd`). */
  watch(fd: number, events: number, cancel?: Promise<number>): Promise<number>;
  /**
   * connect(2) of `fd` (a socket the payload shares) to `address`, run on a thread of its own
   * with the socket's own flags: 0 or -errno, as the payload's own connect would end. `hold`:
   * a descriptor the address names (/proc/self/fd/N), taken over by the thread (closed when its
   * connect returns, whatever happens): the caller never closes it.
   */
  connect(fd: number, address: Uint8Array, hold?: number): Promise<number>;
}

export type Reply = { val: number } | { errno: number };

export interface NotifyHandlers {
  connectInet(c: Call, to: { family: 2 | 10; address: string; port: number } | { family: 0 }): Promise<Reply>; // owner: egress
  connectUnix(c: Call, to: { path: Uint8Array; abstract: boolean }): Promise<Reply>; // owner: unix
  /** A send naming a destination: how to execute it. */
  sendDestination(c: Call, to: NonNullable<ReturnType<typeof decodeSockaddr>>): Promise<{ address: Uint8Array } | { errno: number }>; // egress for inet, unix for AF_UNIX (notify routes by family)
}


const { ERRNO } = sys;
const E = (name: string) => ERRNO[name]!;
const POLLOUT = 4, POLLHUP = 16, POLLNVAL = 32;
const SOL_SOCKET = 1, SO_TYPE = 3, SO_ERROR = 4, SO_DOMAIN = 39;
const SOCK_STREAM = 1;
const O_NONBLOCK = 0o4000, O_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000, MSG_FASTOPEN = 0x20000000;
const PIDFD_SEND_SIGNAL = 424, SIGPIPE = 13;
const SCM_RIGHTS = 1, SCM_CREDENTIALS = 2;
/** sockaddr_storage: the kernel refuses a longer address (EINVAL). */
const ADDRESS_MAX = 128;
/** UIO_MAXIOV: the most iovecs, and the most messages of one sendmmsg. */
const IOV_MAX = 1024;
/** Bytes of data nsbox copies for one send on a stream socket: a longer one is sent in part, as the kernel may. */
const STREAM_CHUNK = 1 << 18;
/** A datagram, and a message's control data, at most (the kernel's own limits are of this order). */
const DATAGRAM_MAX = 1 << 19, CONTROL_MAX = 1 << 16;

/** The answer that says the dispatcher must not answer (the notification is gone). */
const DROP = Symbol("drop");
class Refused extends Error {
  constructor(readonly errno: number) {
    super(`errno ${errno}`);
  }
}
const refuse = (errno: number): never => {
  throw new Refused(errno);
};

const isLoopback = (address: string): boolean =>
  address === "::1" || /^127\./.test(address) || /^::ffff:127\./.test(address);

/**
 * Connect the payload's own socket (nsbox's duplicate: it lives in the sandbox's network
 * namespace) to `address`, nsbox's copy, on a thread of its own (Call.connect): the socket's
 * flags are the payload's, never changed by nsbox, and the payload's thread waits as it would
 * for its own connect. Used for destinations inside the sandbox.
 */
export async function connectHere(c: Call, address: Uint8Array): Promise<Reply> {
  // A socket nsbox installed (a host connection) would reach the host's own loopback here.
  if (!inSandbox(c.sock)) return { errno: E("EPERM") };
  const r = await connectInterruptible(c, c.sock, address);
  return r < 0 ? { errno: -r } : { val: 0 };
}

const SIOCGSKNS = 0x894c;
let ownNetns: { dev: bigint; ino: bigint } | undefined;
/**
 * Whether socket `sock` lives in a network namespace other than nsbox's own (the sandbox's):
 * SIOCGSKNS names it, and nsbox may ask only where it holds CAP_NET_ADMIN (the sandbox's
 * namespaces are its own; the host's, unless nsbox runs as root, are not: EPERM). A call
 * executed on any other socket would leave the sandbox.
 */
export function inSandbox(sock: number): boolean {
  if (!ownNetns) {
    const self = sys.openPath("/proc/self/ns/net", 0);
    const st = self < 0 ? self : sys.fstatIds(self);
    sys.close(self);
    if (typeof st === "number") return false;
    ownNetns = { dev: st.dev, ino: st.ino };
  }
  const ns = sys.syscall(sys.NR.ioctl, sock, SIOCGSKNS, 0);
  if (ns < 0) return false;
  const st = sys.fstatIds(ns);
  sys.close(ns);
  return typeof st !== "number" && !(st.ino === ownNetns.ino && st.dev === ownNetns.dev);
}

const O_PATH = 0o10000000, O_DIRECTORY = 0o200000;
const RESOLVE_NO_MAGICLINKS = 0x02n, RESOLVE_IN_ROOT = 0x10n;
/**
 * Why `path` can't be reached as process `pid` sees it (ENOENT, ENOTDIR, EACCES…), or undefined
 * when something is there. Resolved inside its root (openat2 RESOLVE_IN_ROOT from
 * /proc/PID/root, or /proc/PID/cwd for a relative path): nothing of the host's is followed, and
 * nothing is opened but an O_PATH descriptor, closed at once.
 */
function pathErrno(pid: number, path: Uint8Array): number | undefined {
  const relative = path[0] !== 0x2f;
  const dir = sys.openPath(`/proc/${pid}/${relative ? "cwd" : "root"}`, O_PATH | O_DIRECTORY);
  if (dir < 0) return undefined;
  const fd = sys.openat2(dir, path, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  sys.close(dir);
  if (fd >= 0) sys.close(fd);
  return fd < 0 && fd !== -E("EAGAIN") ? -fd : undefined;
}

/**
 * The handlers until the egress and unix-socket policies take over: destinations inside the
 * sandbox (its loopback, abstract Unix names: its network namespace's own) are reached, every
 * other one refused.
 */
export const insideOnly: NotifyHandlers = {
  async connectInet(c, to) {
    if (to.family === 0) return connectHere(c, new Uint8Array(16));
    if (!isLoopback(to.address)) return { errno: E("ECONNREFUSED") };
    return connectHere(c, encodeInet(to.address, to.port, c.family === AF.INET6 ? 10 : 2));
  },
  async connectUnix(c, to) {
    if (!to.abstract) return { errno: pathErrno(c.n.pid, to.path) ?? E("ECONNREFUSED") };
    return connectHere(c, encodeUnix(to.path, true));
  },
  async sendDestination(c, to) {
    if ((to.family === 2 || to.family === 10) && isLoopback(to.address)) return { address: encodeInet(to.address, to.port, c.family === AF.INET6 ? 10 : 2) };
    if (to.family === 1 && to.abstract && to.path) return { address: encodeUnix(to.path, true) };
    return { errno: E("EPERM") };
  },
};

const u32 = (v: bigint) => Number(v & 0xffffffffn);
const i32 = (v: bigint) => u32(v) | 0;

/** Read the payload's memory, or refuse the call with EFAULT (as the kernel would). */
function readOrFault(pid: number, address: bigint, length: number): Uint8Array {
  if (length === 0) return new Uint8Array(0);
  if (address === 0n) refuse(E("EFAULT"));
  const r = sys.readMemory(pid, address, length);
  if (typeof r === "number" || r.length < length) refuse(E("EFAULT"));
  return r as Uint8Array;
}

/** O_CLOEXEC of descriptor `fd` of `pid` (/proc/PID/fdinfo/N "flags:", octal); checked valid by the caller after. */
function fdCloexec(pid: number, fd: number): boolean {
  const f = sys.openPath(`/proc/${pid}/fdinfo/${fd}`, 0);
  if (f < 0) return false;
  try {
    const r = sys.read(f, 512);
    if (typeof r === "number") return false;
    const m = /^flags:\s*([0-7]+)/m.exec(new TextDecoder().decode(r));
    return m ? (parseInt(m[1]!, 8) & O_CLOEXEC) !== 0 : false;
  } finally {
    sys.close(f);
  }
}

/** One message of the payload (struct msghdr at `at`), copied: its name, data, control. */
interface Message {
  name?: Uint8Array;
  iov: Uint8Array[];
  control?: Uint8Array;
}

function readMessage(pid: number, at: bigint, stream: boolean): Message {
  const hdr = readOrFault(pid, at, 56);
  const v = new DataView(hdr.buffer, hdr.byteOffset, 56);
  const namePtr = v.getBigUint64(0, true), nameLen = v.getUint32(8, true);
  const iovPtr = v.getBigUint64(16, true), iovLen = v.getBigUint64(24, true);
  const ctlPtr = v.getBigUint64(32, true), ctlLen = v.getBigUint64(40, true);
  if (iovLen > BigInt(IOV_MAX)) refuse(E("EMSGSIZE"));
  if (nameLen > ADDRESS_MAX) refuse(E("EINVAL"));
  if (ctlLen > BigInt(CONTROL_MAX)) refuse(E("ENOBUFS"));
  const msg: Message = { iov: readIov(pid, iovPtr, Number(iovLen), stream) };
  if (namePtr !== 0n && nameLen > 0) msg.name = readOrFault(pid, namePtr, nameLen);
  if (ctlPtr !== 0n && ctlLen > 0n) msg.control = readOrFault(pid, ctlPtr, Number(ctlLen));
  return msg;
}

/** The data of `count` iovecs at `at`: all of it for a datagram, up to STREAM_CHUNK for a stream (a partial send). */
function readIov(pid: number, at: bigint, count: number, stream: boolean): Uint8Array[] {
  if (count === 0) return [];
  const vec = readOrFault(pid, at, 16 * count);
  const v = new DataView(vec.buffer, vec.byteOffset, vec.byteLength);
  const out: Uint8Array[] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    const base = v.getBigUint64(16 * i, true);
    let len = Number(v.getBigUint64(16 * i + 8, true));
    if (stream) len = Math.min(len, STREAM_CHUNK - total);
    else if (total + len > DATAGRAM_MAX) refuse(E("EMSGSIZE"));
    if (len <= 0) continue;
    out.push(readOrFault(pid, base, len));
    total += len;
    if (stream && total >= STREAM_CHUNK) break;
  }
  return out;
}

/**
 * The control data nsbox sends in the payload's place: SCM_RIGHTS descriptors become nsbox's
 * duplicates of the payload's own (collected in `opened`, closed after the send),
 * SCM_CREDENTIALS nsbox's own pid, uid and gid (the kernel accepts only the sender's);
 * everything else as it was.
 */
function translateControl(pidfd: number, control: Uint8Array, opened: number[]): Uint8Array {
  const out = new Uint8Array(control);
  const v = new DataView(out.buffer);
  for (let at = 0; at + 16 <= out.length; ) {
    const len = Number(v.getBigUint64(at, true));
    if (len < 16 || at + len > out.length) break;
    const level = v.getInt32(at + 8, true), type = v.getInt32(at + 12, true);
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let p = at + 16; p + 4 <= at + len; p += 4) {
        const fd = sys.pidfdGetfd(pidfd, v.getInt32(p, true));
        if (fd < 0) refuse(fd === -E("EBADF") ? E("EBADF") : -fd);
        opened.push(fd);
        v.setInt32(p, fd, true);
      }
    } else if (level === SOL_SOCKET && type === SCM_CREDENTIALS && len >= 28) {
      v.setInt32(at + 16, process.pid, true);
      v.setUint32(at + 20, process.getuid!(), true);
      v.setUint32(at + 24, process.getgid!(), true);
    }
    at += (len + 7) & ~7;
  }
  return out;
}

/** Serve the notifications of `listener` (nsbox's copy, owned from now on) until every filtered process is gone, or stop(). */
export function serveNotifications(listener: number, handlers: NotifyHandlers): Served {
  const served: Served = readNotifications(listener, (n) => answer(listener, n, handlers, served));
  return served;
}

/**
 * Decide trapped call `n` with `handlers` and answer it: the handlers' reply, EPERM when they
 * throw, nothing when the call is gone. Never CONTINUE.
 */
export function answer(listener: number, n: Notification, handlers: NotifyHandlers, served: Served): void {
  void dispatch(listener, n, handlers, served.watch, served.connect)
    .catch(() => ({ errno: E("EPERM") }) as Reply | typeof DROP)
    .then((reply) => void (reply !== DROP && sys.notifRespond(listener, n.id, reply)));
}

/** Decide and execute one trapped call: its answer, or DROP when it is gone already. */
async function dispatch(listener: number, n: Notification, handlers: NotifyHandlers, watch: Call["watch"], connect: Call["connect"]): Promise<Reply | typeof DROP> {
  const nr = n.nr;
  const fd = i32(n.args[0]!);
  const length = nr === sys.NR.connect ? u32(n.args[2]!) : 0;
  // The mechanical steps in one crossing (sys.take): a pidfd, checked valid, the duplicate of
  // the socket, its family, type and flags, and connect's address, read then checked valid.
  let t = sys.take(n, listener, -1, length <= ADDRESS_MAX ? length : 0);
  // Before 6.9, a thread that leads no process: its process's pidfd, found by sys.pidfdOpen.
  if (t.step === sys.TAKE.PIDFD && t.errno === E("EINVAL")) {
    const pidfd = sys.pidfdOpen(n.pid);
    if (pidfd >= 0) t = sys.take(n, listener, pidfd, length <= ADDRESS_MAX ? length : 0);
  }
  const pidfd = t.pidfd;
  const sock = t.sock;
  const opened: number[] = [];
  try {
    // Gone already (then the answer finds no one), or refused: never left waiting.
    if (t.step === sys.TAKE.PIDFD) return { errno: E("EPERM") };
    if (t.step === sys.TAKE.GONE) return DROP;
    if (t.step === sys.TAKE.GETFD) return { errno: t.errno === E("EBADF") ? E("EBADF") : t.errno };
    if (t.step === sys.TAKE.NOTSOCK) return { errno: E("ENOTSOCK") };
    const { family, type, flags } = t;
    // close-on-exec is read only when a handler asks (to install a socket in the descriptor's
    // place, which fails anyway once the notification is gone, so the pid is still its caller's).
    let cloexec: boolean | undefined;
    const fdFlags = { nonblock: flags >= 0 && (flags & O_NONBLOCK) !== 0, get cloexec() { return (cloexec ??= fdCloexec(n.pid, fd)); } };
    const c: Call = { n, listener, pidfd, sock, family, type, fdFlags, watch, connect };
    const inet = family === AF.INET || family === AF.INET6;
    const stream = type === SOCK_STREAM;
    try {
      if (nr === sys.NR.connect) {
        if (length > ADDRESS_MAX) return { errno: E("EINVAL") };
        if (t.step === sys.TAKE.FAULT) return { errno: E("EFAULT") };
        return await routeConnect(c, t.address, handlers);
      }
      let messages: (() => Message)[];
      let sendFlags: number;
      let vector: bigint | undefined;
      if (nr === sys.NR.sendto) {
        sendFlags = i32(n.args[3]!);
        const addrLen = u32(n.args[5]!);
        if (addrLen > ADDRESS_MAX) return { errno: E("EINVAL") };
        const length = Number(n.args[2]!);
        if (!stream && length > DATAGRAM_MAX) return { errno: E("EMSGSIZE") };
        messages = [() => {
          const data = readOrFault(n.pid, n.args[1]!, stream ? Math.min(length, STREAM_CHUNK) : length);
          const name = n.args[4] !== 0n && addrLen > 0 ? readOrFault(n.pid, n.args[4]!, addrLen) : undefined;
          return { iov: [data], ...(name ? { name } : {}) };
        }];
      } else if (nr === sys.NR.sendmsg) {
        sendFlags = i32(n.args[2]!);
        messages = [() => readMessage(n.pid, n.args[1]!, stream)];
      } else if (nr === sys.NR.sendmmsg) {
        sendFlags = i32(n.args[3]!);
        const count = Math.min(u32(n.args[2]!), IOV_MAX);
        vector = n.args[1]!;
        messages = [];
        // Each message read (and checked valid) just before it is sent: memory for one at a time.
        for (let i = 0; i < count; i++) messages.push(() => readMessage(n.pid, vector! + BigInt(64 * i), stream));
      } else {
        return { errno: E("ENOSYS") };
      }
      if (inet && sendFlags & MSG_FASTOPEN) return { errno: E("EOPNOTSUPP") };
      let sent = 0;
      for (const [i, read] of messages.entries()) {
        const r = await sendOne(c, read, sendFlags, handlers, inet, stream);
        if (r === DROP) return DROP;
        if (r < 0) return sent > 0 ? { val: sent } : { errno: -r };
        if (vector === undefined) return { val: r };
        // sendmmsg: each message's msg_len, as the kernel writes it.
        sys.writeMemory(n.pid, vector + BigInt(64 * i + 56), new Uint8Array(new Uint32Array([r]).buffer));
        sent++;
      }
      return { val: sent };
    } catch (e) {
      if (e instanceof Refused) return { errno: e.errno };
      throw e;
    }
  } finally {
    for (const f of opened) sys.close(f);
    sys.close(sock);
    sys.close(pidfd);
  }
}

async function routeConnect(c: Call, address: Uint8Array, handlers: NotifyHandlers): Promise<Reply> {
  const to = decodeSockaddr(address);
  if (c.family === AF.INET || c.family === AF.INET6) {
    if (!to) return { errno: address.length < 2 ? E("EINVAL") : E("EAFNOSUPPORT") };
    if (to.family === 0) return handlers.connectInet(c, to);
    if (to.family !== c.family) return { errno: E("EAFNOSUPPORT") };
    return handlers.connectInet(c, to as { family: 2 | 10; address: string; port: number });
  }
  if (c.family === AF.UNIX) {
    if (to?.family === 1 && to.path !== undefined) {
      const path = typeof to.path === "string" ? new TextEncoder().encode(to.path) : to.path;
      return handlers.connectUnix(c, { path, abstract: to.abstract === true });
    }
    // AF_UNSPEC: a datagram socket forgets its peer (it stays in the sandbox).
    if (to?.family === 0) return connectHere(c, address);
    return { errno: E("EINVAL") };
  }
  // Other families (netlink, packet): their addresses reach only the sandbox's own namespace;
  // a netlink multicast group would be joined with nsbox's capabilities, not the payload's.
  if (netlinkGroups(c.family, address)) return { errno: E("EPERM") };
  return connectHere(c, address);
}

const AF_NETLINK = 16;
const SO_PROTOCOL = 38;
const NETLINK_ROUTE = 0, NETLINK_SOCK_DIAG = 4, NETLINK_GENERIC = 16;
/** RTM_GETLINK's IFLA_TARGET_NETNSID (46) and RTM_GETADDR's IFA_TARGET_NETNSID (10): a request about another namespace; with the family header's length. */
const TARGET_NETNSID: Record<number, { attr: number; header: number }> = { 18: { attr: 46, header: 16 }, 22: { attr: 10, header: 8 } };
const RTM_GETNSID = 90, SOCK_DESTROY = 21, GENL_ID_CTRL = 16, CTRL_CMD_GETFAMILY = 3;
/**
 * Security decision: nsbox sends a netlink message with ITS credentials, and the kernel checks
 * the sender's capabilities: all of them over the sandbox's user namespace, and when nsbox runs
 * as root, over the host's (`ip link add … netns 1` names a namespace in nsbox's view). So only
 * requests that read are sent: NETLINK_ROUTE RTM_GET* (type >= 16, (type & 3) == 2) without an
 * attribute naming another namespace (and not RTM_GETNSID, whose pid and fd attributes name
 * nsbox's processes and descriptors), NETLINK_SOCK_DIAG but SOCK_DESTROY, and NETLINK_GENERIC's
 * CTRL_CMD_GETFAMILY. Every other message is EPERM: the kernel's answer to the payload, which
 * has no CAP_NET_ADMIN. (`ip addr`, `ip link`, `ss`, getaddrinfo's AI_ADDRCONFIG only read.)
 */
function readOnlyNetlink(sock: number, iov: Uint8Array[]): boolean {
  const protocol = sys.getsockoptInt(sock, SOL_SOCKET, SO_PROTOCOL);
  const total = iov.reduce((n, b) => n + b.length, 0);
  const data = new Uint8Array(total);
  let at = 0;
  for (const b of iov) (data.set(b, at), (at += b.length));
  const v = new DataView(data.buffer);
  if (data.length < 16) return false;
  for (at = 0; at + 16 <= data.length; ) {
    const len = v.getUint32(at, true), type = v.getUint16(at + 4, true);
    if (len < 16 || at + len > data.length) return false;
    if (protocol === NETLINK_ROUTE) {
      if (type < 16 || (type & 3) !== 2 || type === RTM_GETNSID) return false;
      const target = TARGET_NETNSID[type];
      if (target) {
        for (let p = at + 16 + target.header; p + 4 <= at + len; ) {
          const alen = v.getUint16(p, true), atype = v.getUint16(p + 2, true) & 0x3fff;
          if (atype === target.attr || alen < 4) return false;
          p += (alen + 3) & ~3;
        }
      }
    } else if (protocol === NETLINK_SOCK_DIAG) {
      if (type === SOCK_DESTROY) return false;
    } else if (protocol === NETLINK_GENERIC) {
      if (type !== GENL_ID_CTRL || len < 17 || data[at + 16] !== CTRL_CMD_GETFAMILY) return false;
    } else return false;
    at += (len + 3) & ~3;
  }
  return true;
}
/** A netlink address naming multicast groups (nl_groups, at offset 8). */
const netlinkGroups = (family: number, address: Uint8Array | undefined): boolean =>
  family === AF_NETLINK && address !== undefined && address.length >= 12 && new DataView(address.buffer, address.byteOffset).getUint32(8, true) !== 0;

/**
 * Execute one message's send on the duplicate: the destination, if named, as the handler
 * decides; non-blocking, waiting through the watcher for a blocking socket. Bytes sent or -errno.
 */
async function sendOne(c: Call, read: () => Message, flags: number, handlers: NotifyHandlers, inet: boolean, stream: boolean): Promise<number | typeof DROP> {
  const nonblocking = c.fdFlags.nonblock || (flags & MSG_DONTWAIT) !== 0;
  let lastTry = false;
  for (;;) {
    // Read (again after a wait: nothing is held while the socket is full), then decide on that copy.
    let m: Message;
    try {
      m = read();
    } catch (e) {
      if (e instanceof Refused) return -e.errno;
      throw e;
    }
    if (!sys.notifIdValid(c.listener, c.n.id)) return DROP;
    let name = m.name;
    if (netlinkGroups(c.family, name)) return -E("EPERM");
    if (c.family === AF_NETLINK && !readOnlyNetlink(c.sock, m.iov)) return -E("EPERM");
    if (name && !inSandbox(c.sock) && !(inet && stream)) return -E("EPERM");
    if (name && (inet || c.family === AF.UNIX)) {
      if (inet && stream) {
        name = undefined; // TCP ignores an address once connected, and refuses to send before
      } else {
        const to = decodeSockaddr(name);
        if (!to) return -E(inet ? "EAFNOSUPPORT" : "EINVAL");
        const decided = await handlers.sendDestination(c, to);
        if ("errno" in decided) return -decided.errno;
        name = decided.address;
      }
    }
    const opened: number[] = [];
    let r: number;
    try {
      const control = m.control ? translateControl(c.pidfd, m.control, opened) : undefined;
      r = sys.sendmsg(c.sock, { iov: m.iov, ...(name ? { name } : {}), ...(control ? { control } : {}) }, flags & ~MSG_FASTOPEN);
    } catch (e) {
      if (e instanceof Refused) return -e.errno;
      throw e;
    } finally {
      for (const f of opened) sys.close(f);
    }
    // nsbox sends with MSG_NOSIGNAL; the kernel would have sent the caller SIGPIPE.
    if (r === -E("EPIPE") && !(flags & MSG_NOSIGNAL) && stream) sys.syscall(PIDFD_SEND_SIGNAL, c.pidfd, SIGPIPE, 0, 0);
    if (r !== -E("EAGAIN") || nonblocking || lastTry) return r;
    const revents = await watchInterruptible(c, c.sock, POLLOUT);
    // A caught signal: as the kernel's blocking send, EINTR (or the bytes of the messages before).
    if (revents & INTERRUPTED) return -E("EINTR");
    if (revents & POLLNVAL) return -E("EAGAIN");
    // Hung up (or the watcher ended): one more try gives the socket's own error, never a loop.
    if (revents & POLLHUP && !(revents & POLLOUT)) lastTry = true;
  }
}
