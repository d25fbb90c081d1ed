// The C executor: loaded prebuilt from dist/ when that build is of these sources, else compiled
// once per process with bun:ffi's cc(); then called to start sandboxes.
import { cc, dlopen, ptr } from "bun:ffi";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { NsboxError } from "./errors.ts";
import { errnoName, errnoText, outOfDescriptors, readNofileWith, tooFewDescriptors } from "./errno.ts";
import { packageRoot } from "./package-root.ts";
import { executorHash } from "./source-hash.ts";

import { CALL } from "./kernel.ts";

/** The parent's calls into the executor, by number (src/kernel.ts; the switch in executor/host.c). */
export { CALL };

/** In the bundle, the hash of the C sources it was built with (scripts/build.ts); undefined from src/. */
declare const NSBOX_BUILT: { executor: string; object?: string } | undefined;

/** One bound symbol, not one per call: each costs Bun about 0.3 ms to bind, at every start. */
const SYMBOLS = { nsbox_call: { args: ["int", "ptr", "int", "int", "int", "int", "int", "int"], returns: "int" } } as const;

/** Where the executor of this process came from (nsbox doctor). */
export let executorOrigin = "";

/**
 * dist/executor-<arch>.so (scripts/build.ts: gcc, 0.5 ms to load against 13 ms or more for
 * cc()), when its compiled-in hash is that of the C sources this JavaScript goes with: the ones
 * the bundle was built with, or from src/ the files as they are now. Any other (stale, another
 * architecture or libc, unloadable) is closed unused, and cc() compiles the sources.
 * On the main thread only: a process has one copy of a shared object, and the executor's state
 * is per copy (executor/reap.c keeps the sandboxes of one JavaScript thread, to end them with
 * it): each Worker compiles its own.
 */
function prebuilt(root: string) {
  const object = join(root, "dist", `executor-${process.arch}.so`);
  if (!Bun.isMainThread || !existsSync(object)) return undefined;
  try {
    // From the bundle, the object's bytes are checked before dlopen runs any of its code (a
    // constructor runs at load). dist/ is read-only inside every sandbox that shares it
    // (src/plan/protected.ts makes it when missing), so the checks guard against a stale or
    // foreign object, not one a payload wrote.
    if (typeof NSBOX_BUILT !== "undefined" && new Bun.CryptoHasher("sha256").update(readFileSync(object)).digest("hex") !== NSBOX_BUILT.object) return undefined;
    const want = typeof NSBOX_BUILT === "undefined" ? executorHash(root) : NSBOX_BUILT.executor;
    const lib = dlopen(object, { ...SYMBOLS, nsbox_source_hash: { args: [], returns: "cstring" } });
    if (String(lib.symbols.nsbox_source_hash()) === want) {
      executorOrigin = `prebuilt: dist/executor-${process.arch}.so, built by scripts/build.ts from these C sources`;
      return lib;
    }
    lib.close();
  } catch {}
  return undefined;
}

function compile() {
  const root = packageRoot();
  const lib = prebuilt(root) ?? cc({ source: join(root, "src", "executor", "executor.c"), symbols: SYMBOLS });
  executorOrigin ||= "compiled by bun:ffi from src/executor/executor.c (no prebuilt dist/executor-*.so of these sources: `bun run build` makes one)";
  const call = lib.symbols.nsbox_call;
  return (fn: number, p: Parameters<typeof call>[1] = null, a = 0, b = 0, c = 0, d = 0, e = 0, f = 0): number => call(fn, p, a, b, c, d, e, f);
}

/** The running kernel's Landlock ABI version, 0 when it has none (nsbox doctor). */
export const landlockAbi = (): number => lib()(CALL.landlockAbi);

let compiled: ReturnType<typeof compile> | undefined;
const lib = () => (compiled ??= compile());

/** Descriptors the child receives; -1 leaves the parent's own (stdio) or none (the others). */
export interface ChildFds {
  report: number;
  /** The Unix socket the sandbox passes descriptors back on (pty master, proxy socket). */
  control: number;
  stdin: number;
  stdout: number;
  stderr: number;
}

/** Clone the sandbox's PID 1 and run the plan in it. Returns its host pid, or -errno. */
export function spawnPlan(plan: Uint8Array, fds: ChildFds): number {
  return lib()(CALL.spawn, ptr(plan), plan.length, fds.report, fds.control, fds.stdin, fds.stdout, fds.stderr);
}

/**
 * The kernel refused a descriptor nsbox needs before the sandbox starts (`step` says which):
 * typed, with the errno, and the fix when it is the open-file limit.
 */
export function descriptorError(step: string, errno: number): NsboxError {
  if (outOfDescriptors(errno)) return tooFewDescriptors(errno);
  return new NsboxError("KERNEL_REFUSED", `can't ${step}: ${errnoText(errno)} (${errnoName(errno)})`, { errno });
}

/** A close-on-exec pipe: [read end, write end]. `step` names it in the NsboxError. */
export function pipe(step = "make a pipe"): [number, number] {
  const fds = new Int32Array(2);
  const r = lib()(CALL.pipe, ptr(fds));
  if (r < 0) throw descriptorError(step, -r);
  return [fds[0]!, fds[1]!];
}

/** A close-on-exec Unix stream socket pair. `step` names it in the NsboxError. */
export function socketPair(step = "make a socket pair"): [number, number] {
  const fds = new Int32Array(2);
  const r = lib()(CALL.socketpair, ptr(fds));
  if (r < 0) throw descriptorError(step, -r);
  return [fds[0]!, fds[1]!];
}

export const closeFd = (fd: number) => void lib()(CALL.close, null, fd);
/** syscall(args[0], args[1…6]) in the executor: the result, or -errno (src/net/sys.ts wraps it). */
export const rawSyscall = (args: BigInt64Array): number => lib()(CALL.syscall, ptr(args));
/**
 * Start a watcher thread (executor/notify.c) on seccomp listener `listener`: it writes records
 * to `recordWrite` and takes requests from `controlRead` (both its own from now on). 0 or -errno.
 */
export const startWatcher = (listener: number, recordWrite: number, controlRead: number): number =>
  lib()(CALL.watch, ptr(new Int32Array([listener, recordWrite, controlRead])));
/** End this process now with `status` (_exit): no exit handlers, and none of Bun's own. */
export const exitNow = (status: number): never => (lib()(CALL.exit, null, status), process.exit(status));
export const killPid = (pid: number, signal: number) => lib()(CALL.kill, null, pid, signal);
export const receiveFd = (socket: number) => lib()(CALL.recvFd, null, socket);
export const setWindowSize = (fd: number, rows: number, cols: number) => lib()(CALL.setWinsize, null, fd, rows, cols);
export const setBlocking = (fd: number) => lib()(CALL.setBlocking, null, fd);

/** The size of the terminal on `fd`, or null when it is not a terminal. */
export function terminalSize(fd: number): { rows: number; cols: number } | null {
  const r = lib()(CALL.terminalSize, null, fd);
  return r < 0 ? null : { rows: r >>> 16 || 24, cols: r & 0xffff || 80 };
}

/** Bytes waiting unread in the pipe `fd` (FIONREAD), or -errno. */
export const readableBytes = (fd: number) => lib()(CALL.readable, null, fd);

/** waitpid(pid) → the raw wait status; `hang: false` returns undefined while it still runs. */
export function waitPid(pid: number, hang = true): number | undefined {
  const status = new Int32Array(1);
  const r = lib()(CALL.wait, ptr(status), pid, hang ? 0 : 1 /* WNOHANG */);
  if (r === 0) return undefined;
  if (r < 0) throw new Error(`waitpid(${pid}) failed: errno ${-r}`);
  return status[0];
}

/**
 * Remove the host directory `path` and all in it without following any symlink (every entry is
 * reached from its held parent); the top must be a directory of this user. 0 or -errno.
 */
export const removeDir = (path: string) => lib()(CALL.removeDir, ptr(Buffer.from(path + "\0")));

/** The soft RLIMIT_NOFILE, when the executor is compiled already (a message about descriptors may have none left to compile it with). */
export const nofileLimit = (): number | undefined => {
  const r = compiled?.(CALL.nofileLimit);
  return r === undefined || r < 0 ? undefined : r;
};
readNofileWith(nofileLimit);

/** Compile now (the CLI does it while it plans, the library on first use). */
export function prepareExecutor(): void {
  lib();
}

/** A credential triple as SO_PEERCRED gives it. */
export interface PeerCred { pid: number; uid: number; gid: number }

const cString = (s: string) => {
  const b = new Uint8Array(128);
  b.set(new TextEncoder().encode(s).subarray(0, 120));
  return b;
};

/** A listening Unix socket at `path` (non-blocking), or -errno. */
export const unixListen = (path: string): number => lib()(CALL.unixListen, ptr(cString(path)));

/** Accept one waiting client with its credentials; -errno (EAGAIN: none waiting). */
export function unixAccept(listener: number): { fd: number; peer: PeerCred } | number {
  const cred = new Int32Array(3);
  const fd = lib()(CALL.unixAccept, ptr(cred), listener);
  return fd < 0 ? fd : { fd, peer: { pid: cred[0]!, uid: cred[1]!, gid: cred[2]! } };
}

/** Send `data`, with descriptor `fd` attached when it is not negative; 0 or -errno. */
export function sendDataFd(sock: number, data: Uint8Array, fd: number): number {
  return lib()(CALL.sendDataFd, ptr(data.length ? data : new Uint8Array(1)), sock, data.length, fd);
}

/** Connect to the Unix socket at `path`: the socket and its server's credentials, or -errno. */
export function unixConnect(path: string, seconds: number): { fd: number; peer: PeerCred } | number {
  const b = cString(path);
  const fd = lib()(CALL.unixConnect, ptr(b), seconds);
  if (fd < 0) return fd;
  const cred = new Int32Array(b.buffer, 112, 3);
  return { fd, peer: { pid: cred[0]!, uid: cred[1]!, gid: cred[2]! } };
}

/** Read what the server sends until it closes (at most `max` bytes: a state holds the command, up to ARG_MAX, JSON-escaped; pages untouched cost nothing), and the descriptor that came with it (-1 when none). */
export function receiveDataFd(sock: number, max = 1 << 26): { data: Uint8Array; fd: number } | number {
  const b = new Uint8Array(max + 4);
  const n = lib()(CALL.recvDataFd, ptr(b), sock, b.length);
  if (n < 0) return n;
  return { data: b.slice(4, 4 + n), fd: new Int32Array(b.buffer, 0, 1)[0]! };
}

export const pidfdOpen = (pid: number): number => lib()(CALL.pidfdOpen, null, pid);
export const pidfdSignal = (pidfd: number, sig: number): number => lib()(CALL.pidfdSignal, null, pidfd, sig);
/** 1 while the process runs, 0 once it has exited, -errno. */
export const pidfdRunning = (pidfd: number): number => lib()(CALL.pidfdRunning, null, pidfd);

/**
 * Make terminal `fd` raw (no echo, no line editing, no signals from keys): its mode before, to
 * give back with restoreTerminalMode, or null when it is not a terminal (or refused).
 */
export function makeTerminalRaw(fd: number): Uint8Array | null {
  const saved = new Uint8Array(36);
  return lib()(CALL.terminalMode, ptr(saved), fd, 1) === 0 ? saved : null;
}

/**
 * Write to pty master `fd` what it takes now, without waiting: bytes written (at most 256), or
 * -EAGAIN (11) while the payload reads nothing, or another -errno (EIO: its side is gone).
 */
export const ptyWrite = (fd: number, data: Uint8Array): number => (data.length ? lib()(CALL.ptyWrite, ptr(data), fd, data.length) : 0);

/** Give terminal `fd` the mode makeTerminalRaw saved. 0 or -errno (EIO: it hung up). */
export const restoreTerminalMode = (fd: number, saved: Uint8Array): number => lib()(CALL.terminalMode, ptr(saved), fd, 0);

/** Where this process's group stands on terminal `fd`: its foreground job, a background job, or neither (not its controlling terminal). */
export function terminalJob(fd: number): "foreground" | "background" | "none" {
  const r = lib()(CALL.foreground, null, fd);
  return r === 1 ? "foreground" : r === 0 ? "background" : "none";
}
