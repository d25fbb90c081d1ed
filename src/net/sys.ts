// Typed system calls for the network side (seccomp user notification, sockets of the payload):
// one generic syscall through the executor (executor/host.c nsbox_syscall), Buffers from here.
// Every function returns a value or -errno; none throws, none blocks (sockets are used with
// MSG_DONTWAIT or O_NONBLOCK, and waits go through the watcher thread, src/net/unotify.ts).
import { arch } from "node:os";
import { CFunction, ptr, type Pointer } from "bun:ffi";
import { rawSyscall } from "../executor.ts";

/** One seccomp notification (struct seccomp_notif; `raw`: its 80 bytes as received, when at hand). */
export interface Notification { id: bigint; pid: number; nr: number; arch: number; ip: bigint; args: bigint[] /* 6 */; raw?: Uint8Array }

const X64 = arch() === "x64";
/** System call numbers, x86_64 and the generic table aarch64 uses. */
export const NR = X64
  ? { read: 0, write: 1, close: 3, ioctl: 16, socket: 41, connect: 42, sendto: 44, recvfrom: 45, sendmsg: 46, getsockname: 51, getpeername: 52, setsockopt: 54, getsockopt: 55, fcntl: 72, openat: 257, process_vm_readv: 310, process_vm_writev: 311, statx: 332, sendmmsg: 307, pidfd_open: 434, pidfd_getfd: 438, openat2: 437 }
  : { read: 63, write: 64, close: 57, ioctl: 29, socket: 198, connect: 203, sendto: 206, recvfrom: 207, sendmsg: 211, getsockname: 204, getpeername: 205, setsockopt: 208, getsockopt: 209, fcntl: 25, openat: 56, process_vm_readv: 270, process_vm_writev: 271, statx: 291, sendmmsg: 269, pidfd_open: 434, pidfd_getfd: 438, openat2: 437 };

/** errno values the network side answers with or looks for (asm-generic/errno*.h). */
export const ERRNO: Record<string, number> = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, EBADF: 9, EAGAIN: 11, ENOMEM: 12, EACCES: 13, EFAULT: 14,
  EINVAL: 22, EMFILE: 24, EPIPE: 32, ENOSYS: 38, ENOTSOCK: 88, EDESTADDRREQ: 89, EMSGSIZE: 90, EPROTOTYPE: 91,
  EOPNOTSUPP: 95, EAFNOSUPPORT: 97, EADDRINUSE: 98, EADDRNOTAVAIL: 99, ENETUNREACH: 101, ECONNABORTED: 103, ECONNRESET: 104, ENOBUFS: 105,
  EISCONN: 106, ENOTCONN: 107, ETIMEDOUT: 110, ECONNREFUSED: 111, EHOSTUNREACH: 113, EALREADY: 114, EINPROGRESS: 115,
};

/** seccomp(2) user-notification ioctls (linux/seccomp.h; the same on x86_64 and aarch64). */
export const SECCOMP_IOCTL = { RECV: 0xc0502100, SEND: 0xc0182101, ID_VALID: 0x40082102, ADDFD: 0x40182103 } as const;
const SECCOMP_ADDFD_FLAG_SETFD = 1;
const O_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000;
const F_GETFL = 3, F_SETFL = 4;
const SOL_SOCKET = 1, SO_PEERCRED = 17;
const AT_FDCWD = -100, AT_EMPTY_PATH = 0x1000;
const EMPTY = new Uint8Array(1);

type Arg = number | bigint;
const I64 = "i64" as const;
/**
 * The executor's hot-path functions (executor/notify.c), bound directly at the first call: a
 * call through the executor's one generic symbol costs 2-5 µs (seven BigInts, a pointer), a
 * direct binding about 0.5 µs, and a connect inside the sandbox makes a dozen.
 */
function bind() {
  const table = new BigInt64Array(7);
  table[0] = -1n; // executor/notify.c nsbox_syscall: the functions' addresses
  if (rawSyscall(table) !== 0) throw new Error("the executor has no direct functions");
  const at = (i: number) => Number(table[i]!) as Pointer;
  return {
    sys: CFunction({ ptr: at(1), args: [I64, I64, I64, I64, I64, I64, I64], returns: "i32" }),
    take: CFunction({ ptr: at(2), args: ["ptr", "ptr", "ptr"], returns: "i32" }),
    hostConnect: CFunction({ ptr: at(3), args: ["ptr", "ptr", "i32"], returns: "i32" }),
    install: CFunction({ ptr: at(4), args: ["ptr", "ptr", "ptr"], returns: "i32" }),
    connectThread: CFunction({ ptr: at(5), args: ["ptr", "ptr", "i32"], returns: "i32" }),
  };
}
let bound: ReturnType<typeof bind> | undefined;
const direct = () => (bound ??= bind());
/** syscall(nr, a…f): the result, or -errno. Pointers are passed as addresses (addr()). */
export function syscall(nr: number, a: Arg = 0, b: Arg = 0, c: Arg = 0, d: Arg = 0, e: Arg = 0, f: Arg = 0): number {
  return direct().sys(nr, a, b, c, d, e, f) as number;
}
/** The address of a buffer, for a syscall argument (the caller keeps the buffer alive). */
const addr = (b: Uint8Array | BigInt64Array | Int32Array | BigUint64Array): number => (b.byteLength ? ptr(b) : 0);

/** struct seccomp_notif of `n`, as the executor's functions read it. */
function notifBytes(n: Notification): Uint8Array {
  if (n.raw && n.raw.length >= 80) return n.raw;
  const b = new Uint8Array(80);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, n.id, true);
  v.setUint32(8, n.pid, true);
  v.setInt32(16, n.nr, true);
  v.setUint32(20, n.arch, true);
  v.setBigUint64(24, n.ip, true);
  n.args.forEach((a, i) => v.setBigUint64(32 + 8 * i, a, true));
  return b;
}

/** Steps of take() that can fail (executor/notify.c TAKE_*). */
export const TAKE = { PIDFD: 1, GONE: 2, GETFD: 3, NOTSOCK: 4, FAULT: 5 } as const;
export interface Taken {
  /** 0, or the TAKE step that failed. */
  step: number;
  /** The errno of a failed PIDFD or GETFD step. */
  errno: number;
  /** Opened (>= 0) or not; the caller closes both. */
  pidfd: number;
  sock: number;
  family: number;
  type: number;
  /** The descriptor's file flags, or -errno. */
  flags: number;
  /** The `addressLength` bytes at args[1], read, and read while the call was pending. */
  address: Uint8Array;
}
const takeIo = new Int32Array(8);
/**
 * Take trapped call `n` in one crossing (executor/notify.c nsbox_take): a pidfd of its thread
 * (`pidfd`, or a new one when -1), checked pending, nsbox's duplicate of its descriptor
 * args[0], that socket's family, type and file flags, and `addressLength` bytes at args[1]
 * (connect's address), read and then checked pending again.
 */
export function take(n: Notification, listener: number, pidfd: number, addressLength: number): Taken {
  const address = new Uint8Array(Math.max(addressLength, 1));
  takeIo.fill(0);
  takeIo[0] = listener;
  takeIo[1] = pidfd;
  takeIo[2] = addressLength;
  const step = direct().take(ptr(notifBytes(n)), ptr(takeIo), ptr(address)) as number;
  const io = takeIo;
  return { step, errno: io[7]!, pidfd: io[1]!, sock: io[3]!, family: io[4]!, type: io[5]!, flags: io[6]!, address: address.subarray(0, addressLength) };
}

/** Results of hostConnect() other than 0 (executor/notify.c HOST_*). */
export const HOST = { STATE: 1, PROTOCOL: 2, ERRNO: 3 } as const;
const hostIo = new Int32Array(4);
/**
 * A new host socket like `sock` (family `family`): refused when `sock` is not closed (STATE,
 * `value` its TCP state) or not TCP/MPTCP (PROTOCOL, `value` its protocol); else made
 * SOCK_NONBLOCK|SOCK_CLOEXEC, `sock`'s options copied (TCP_NODELAY, TCP_USER_TIMEOUT, IP_TOS,
 * IPV6_V6ONLY, IPV6_TCLASS, SO_KEEPALIVE with TCP_KEEPIDLE/INTVL/CNT, SO_LINGER, SO_RCVTIMEO,
 * SO_SNDTIMEO), and connecting to `address`: `fd`, and `value` 0 or -EINPROGRESS. ERRNO: `value`
 * the errno of socket or connect.
 */
export function hostConnect(sock: number, family: number, address: Uint8Array): { step: number; fd: number; value: number } {
  hostIo[0] = sock;
  hostIo[1] = family;
  hostIo[2] = hostIo[3] = -1;
  const step = direct().hostConnect(ptr(hostIo), ptr(address), address.length) as number;
  return { step, fd: hostIo[2]!, value: hostIo[3]! };
}

const installIo = new Int32Array(4);
const installIds = new BigUint64Array(2);
/**
 * Install nsbox's `fd` at `targetFd` of the process of call `n` (ADDFD SETFD), with the
 * close-on-exec that descriptor had (/proc/PID/fdinfo) and blocking unless `nonblock`: the
 * number or -errno, and `fd`'s device and inode (0 when unknown).
 */
export function install(n: Notification, listener: number, fd: number, targetFd: number, nonblock: boolean): { r: number; dev: bigint; ino: bigint } {
  installIo[0] = listener;
  installIo[1] = fd;
  installIo[2] = targetFd;
  installIo[3] = nonblock ? 1 : 0;
  const r = direct().install(ptr(notifBytes(n)), ptr(installIo), ptr(installIds)) as number;
  return { r, dev: installIds[0]!, ino: installIds[1]! };
}

const connectIo = new Int32Array(4);
/**
 * Start connect(2) of `fd` to `address` on a thread of its own (executor/notify.c
 * nsbox_connect_thread), with the socket's own flags: its result comes as a record (kind 5,
 * `token`, 0 or -errno) on `records`. For a socket the payload shares, whose O_NONBLOCK it can
 * clear at any moment: nsbox's main thread never blocks in it. `hold`: a descriptor the address
 * names (/proc/self/fd/N) that the thread takes over and closes when its connect returns (also
 * when this fails): never closed by the caller. 0 or -errno.
 */
export function connectOnThread(fd: number, address: Uint8Array, records: number, token: number, hold = -1): number {
  connectIo[0] = fd;
  connectIo[1] = records;
  connectIo[2] = token;
  connectIo[3] = hold;
  return direct().connectThread(ptr(connectIo), ptr(address.length ? address : EMPTY), address.length) as number;
}

const PIDFD_THREAD = 0o200; // O_EXCL (6.9)
/**
 * A pidfd for the process (or, since Linux 6.9, the thread: PIDFD_THREAD) `pid`. A seccomp
 * notification names the calling thread; before 6.9 a thread that leads no process gets the
 * pidfd of its process (Tgid in /proc/TID/status). Its descriptors and memory are the same.
 */
export function pidfdOpen(pid: number): number {
  const fd = syscall(NR.pidfd_open, pid, PIDFD_THREAD);
  if (fd !== -ERRNO.EINVAL!) return fd;
  const leader = syscall(NR.pidfd_open, pid, 0);
  if (leader !== -ERRNO.EINVAL!) return leader;
  const status = openPath(`/proc/${pid}/status`, 0);
  if (status < 0) return status;
  const text = read(status, 4096);
  close(status);
  const tgid = typeof text === "number" ? undefined : /^Tgid:\s*(\d+)/m.exec(new TextDecoder().decode(text))?.[1];
  return tgid ? syscall(NR.pidfd_open, Number(tgid), 0) : -ERRNO.ESRCH!;
}
/** A copy of descriptor `fd` of the process behind `pidfd`, in nsbox (always close-on-exec). */
export function pidfdGetfd(pidfd: number, fd: number): number {
  return syscall(NR.pidfd_getfd, pidfd, fd, 0);
}

/** Read `length` bytes at `address` of process `pid` (process_vm_readv): the bytes read (maybe fewer), or -errno. */
export function readMemory(pid: number, address: bigint, length: number): Uint8Array | number {
  if (length === 0) return new Uint8Array(0);
  const buf = new Uint8Array(length);
  const local = new BigUint64Array([BigInt(addr(buf)), BigInt(length)]);
  const remote = new BigUint64Array([address, BigInt(length)]);
  const n = syscall(NR.process_vm_readv, pid, addr(local), 1, addr(remote), 1, 0);
  return n < 0 ? n : buf.subarray(0, n);
}
/** Write `data` at `address` of process `pid`: bytes written, or -errno. */
export function writeMemory(pid: number, address: bigint, data: Uint8Array): number {
  if (data.length === 0) return 0;
  const local = new BigUint64Array([BigInt(addr(data)), BigInt(data.length)]);
  const remote = new BigUint64Array([address, BigInt(data.length)]);
  return syscall(NR.process_vm_writev, pid, addr(local), 1, addr(remote), 1, 0);
}

export function notifIdValid(listener: number, id: bigint): boolean {
  const b = new BigUint64Array([id]);
  return syscall(NR.ioctl, listener, SECCOMP_IOCTL.ID_VALID, addr(b)) === 0;
}
/** Answer notification `id` (struct seccomp_notif_resp): a value, or an errno (positive). Never CONTINUE. */
export function notifRespond(listener: number, id: bigint, result: { val: number } | { errno: number }): number {
  const b = new Uint8Array(24);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, id, true);
  if ("errno" in result) v.setInt32(16, -Math.abs(result.errno), true);
  else v.setBigInt64(8, BigInt(result.val), true);
  return syscall(NR.ioctl, listener, SECCOMP_IOCTL.SEND, addr(b));
}
/** Install nsbox's `fd` at `targetFd` in the notifying process (SECCOMP_ADDFD_FLAG_SETFD): the number, or -errno. */
export function notifAddFd(listener: number, id: bigint, fd: number, targetFd: number, cloexec: boolean): number {
  const b = new Uint8Array(24);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, id, true);
  v.setUint32(8, SECCOMP_ADDFD_FLAG_SETFD, true);
  v.setUint32(12, fd, true);
  v.setUint32(16, targetFd, true);
  v.setUint32(20, cloexec ? O_CLOEXEC : 0, true);
  return syscall(NR.ioctl, listener, SECCOMP_IOCTL.ADDFD, addr(b));
}

export function socket(domain: number, type: number, protocol: number): number {
  return syscall(NR.socket, domain, type, protocol);
}
export function connect(fd: number, address: Uint8Array): number {
  return syscall(NR.connect, fd, addr(address), address.length);
}
/** An int socket option; undefined on error. */
export function getsockoptInt(fd: number, level: number, name: number): number | undefined {
  const r = getsockoptBytes(fd, level, name, 4);
  if (typeof r === "number") return undefined;
  return r.length >= 4 ? new DataView(r.buffer, r.byteOffset).getInt32(0, true) : r.length ? r[0] : undefined;
}
export function setsockoptInt(fd: number, level: number, name: number, value: number): number {
  const b = new Int32Array([value]);
  return syscall(NR.setsockopt, fd, level, name, addr(b), 4);
}
export function getsockoptBytes(fd: number, level: number, name: number, length: number): Uint8Array | number {
  const buf = new Uint8Array(Math.max(length, 1));
  const len = new Int32Array([length]);
  const r = syscall(NR.getsockopt, fd, level, name, addr(buf), addr(len));
  return r < 0 ? r : buf.subarray(0, Math.min(len[0]!, length));
}
export function setsockoptBytes(fd: number, level: number, name: number, value: Uint8Array): number {
  return syscall(NR.setsockopt, fd, level, name, addr(value), value.length);
}
/** The file status flags (F_GETFL: O_NONBLOCK, O_APPEND…), or -errno. */
export function getFileFlags(fd: number): number {
  return syscall(NR.fcntl, fd, F_GETFL, 0);
}
export function setFileFlags(fd: number, flags: number): number {
  return syscall(NR.fcntl, fd, F_SETFL, flags);
}

/** A close-on-exec copy of `fd` (F_DUPFD_CLOEXEC), or -errno. */
export function dupCloexec(fd: number): number {
  return syscall(NR.fcntl, fd, 1030 /* F_DUPFD_CLOEXEC */, 0);
}

/** glibc's makedev: what Node's stat() gives as `dev` (statSync(path, { bigint: true }).dev). */
const makedev = (major: number, minor: number): bigint =>
  ((BigInt(major) & 0xfffff000n) << 32n) | ((BigInt(major) & 0xfffn) << 8n) | ((BigInt(minor) & 0xffffff00n) << 12n) | (BigInt(minor) & 0xffn);
/** Device, inode and mode of `fd` (statx with AT_EMPTY_PATH), or -errno. */
export function fstatIds(fd: number): { dev: bigint; ino: bigint; mode: number } | number {
  const b = new Uint8Array(256);
  const r = syscall(NR.statx, fd, addr(EMPTY), AT_EMPTY_PATH, 0x7ff, addr(b));
  if (r < 0) return r;
  const v = new DataView(b.buffer);
  return { dev: makedev(v.getUint32(136, true), v.getUint32(140, true)), ino: v.getBigUint64(32, true), mode: v.getUint16(28, true) };
}

const cPath = (path: string | Uint8Array): Uint8Array => {
  const bytes = typeof path === "string" ? new TextEncoder().encode(path) : path;
  const b = new Uint8Array(bytes.length + 1);
  b.set(bytes);
  return b;
};
/** openat2(dirfd, path, {flags, mode 0, resolve}): a descriptor or -errno (O_CLOEXEC is added). */
export function openat2(dirfd: number, path: string | Uint8Array, flags: number, resolve: bigint): number {
  const how = new BigUint64Array([BigInt(flags | O_CLOEXEC), 0n, resolve]);
  const p = cPath(path);
  return syscall(NR.openat2, dirfd, addr(p), addr(how), 24);
}
/** open(2) (O_CLOEXEC added), for /proc/PID/root and the like: a descriptor or -errno. */
export function openPath(path: string, flags: number): number {
  const p = cPath(path);
  return syscall(NR.openat, AT_FDCWD, addr(p), flags | O_CLOEXEC, 0);
}

/** sendmsg(2) with nsbox's own copies of the name, data and control (MSG_DONTWAIT|MSG_NOSIGNAL added): bytes sent or -errno. */
export function sendmsg(fd: number, msg: { name?: Uint8Array; iov: Uint8Array[]; control?: Uint8Array }, flags: number): number {
  const iov = new BigUint64Array(Math.max(msg.iov.length, 1) * 2);
  msg.iov.forEach((b, i) => ((iov[2 * i] = BigInt(addr(b))), (iov[2 * i + 1] = BigInt(b.length))));
  const hdr = new BigUint64Array(7);
  const name = msg.name ?? new Uint8Array(0), control = msg.control ?? new Uint8Array(0);
  hdr[0] = BigInt(addr(name));
  hdr[1] = BigInt(name.length);
  hdr[2] = BigInt(addr(iov));
  hdr[3] = BigInt(msg.iov.length);
  hdr[4] = BigInt(addr(control));
  hdr[5] = BigInt(control.length);
  const r = syscall(NR.sendmsg, fd, addr(hdr), flags | MSG_DONTWAIT | MSG_NOSIGNAL);
  void [name, control, msg.iov]; // alive until here
  return r;
}
/** One datagram (MSG_DONTWAIT): its data and sender, or -errno (EAGAIN: none waiting). */
export function recvfrom(fd: number, max: number): { data: Uint8Array; from: Uint8Array } | number {
  const buf = new Uint8Array(Math.max(max, 1));
  const from = new Uint8Array(128);
  const len = new Int32Array([128]);
  const n = syscall(NR.recvfrom, fd, addr(buf), max, MSG_DONTWAIT, addr(from), addr(len));
  return n < 0 ? n : { data: buf.subarray(0, n), from: from.subarray(0, Math.min(len[0]!, 128)) };
}
/** sendto(2) with MSG_DONTWAIT|MSG_NOSIGNAL; an empty `to` sends on a connected socket. */
export function sendto(fd: number, data: Uint8Array, to: Uint8Array): number {
  const d = data.length ? data : new Uint8Array(1);
  return syscall(NR.sendto, fd, addr(d), data.length, MSG_DONTWAIT | MSG_NOSIGNAL, to.length ? addr(to) : 0, to.length);
}
function sockName(nr: number, fd: number): Uint8Array | number {
  const b = new Uint8Array(128);
  const len = new Int32Array([128]);
  const r = syscall(nr, fd, addr(b), addr(len));
  return r < 0 ? r : b.subarray(0, Math.min(len[0]!, 128));
}
export const getsockname = (fd: number): Uint8Array | number => sockName(NR.getsockname, fd);
export const getpeername = (fd: number): Uint8Array | number => sockName(NR.getpeername, fd);
/** SO_PEERCRED of a connected Unix socket, or -errno. */
export function peerCred(fd: number): { pid: number; uid: number; gid: number } | number {
  const r = getsockoptBytes(fd, SOL_SOCKET, SO_PEERCRED, 12);
  if (typeof r === "number") return r;
  if (r.length < 12) return -ERRNO.EINVAL!;
  const v = new DataView(r.buffer, r.byteOffset);
  return { pid: v.getInt32(0, true), uid: v.getUint32(4, true), gid: v.getUint32(8, true) };
}
export function close(fd: number): void {
  if (fd >= 0) syscall(NR.close, fd);
}
/** write(2) of `data` (for the watcher's control pipe and the ack byte): bytes written or -errno. */
export function write(fd: number, data: Uint8Array): number {
  return syscall(NR.write, fd, addr(data), data.length);
}
/** read(2) into a new buffer of `max` bytes: the bytes, or -errno. */
export function read(fd: number, max: number): Uint8Array | number {
  const b = new Uint8Array(Math.max(max, 1));
  const n = syscall(NR.read, fd, addr(b), max);
  return n < 0 ? n : b.subarray(0, n);
}
