// A trapped call nsbox holds while it waits (a host connect, a connect of the payload's own
// socket, a send waiting for room) must end as the kernel's own blocking call would when the
// caller gets a signal it catches: EINTR. The notify filter is installed with
// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, so once nsbox has the notification the payload's
// thread waits killable only: a fatal signal ends it at once, a caught one (Python's SIGINT
// handler) waits for nsbox's answer. So while a wait is held nsbox looks at the thread's
// pending signals: on a modest timer, and at once when nsbox itself forwards a signal.
import { ptr } from "bun:ffi";
import type { Call } from "./unotify.ts";

type Sys = typeof import("./sys.ts");
let sysModule: Sys | undefined;
/** src/net/sys.ts, read at the first held wait: supervise reads this file at every start (wakeInterruptChecks). */
const sys = (): Sys => (sysModule ??= require("./sys.ts") as Sys);

/** A revents bit no poll(2) event uses: the wait ended because the caller has a caught signal pending. */
export const INTERRUPTED = 1 << 16;

const X64 = process.arch === "x64";
const NR_PREAD64 = X64 ? 17 : 67, NR_SHUTDOWN = X64 ? 48 : 210;
const O_RDONLY = 0, O_CLOEXEC = 0o2000000, SHUT_RDWR = 2;
/** How often a held wait looks (ms): the payload's Ctrl-C answered within about this. */
const PERIOD = 100;

/** fd: the thread's /proc/TID/status, opened at the first look (-1 before; -2 when it could not be). */
interface Check { fd: number; c: Call; fire(): void }
const checks = new Set<Check>();
let timer: ReturnType<typeof setInterval> | undefined;

/**
 * Whether the thread has a signal pending that it catches and does not block: SigPnd (its
 * own) or ShdPnd (the process's), and SigCgt, not SigBlk, read again from `fd`, its
 * /proc/TID/status. undefined when the thread is gone.
 */
function caughtPending(fd: number): boolean | undefined {
  const buf = new Uint8Array(4096);
  const n = sys().syscall(NR_PREAD64, fd, ptr(buf), buf.length, 0);
  if (n <= 0) return undefined;
  const text = new TextDecoder().decode(buf.subarray(0, n));
  const mask = (key: string): bigint => {
    const m = new RegExp(`^${key}:\\s*([0-9a-f]+)$`, "m").exec(text);
    return m ? BigInt(`0x${m[1]}`) : 0n;
  };
  return ((mask("SigPnd") | mask("ShdPnd")) & mask("SigCgt") & ~mask("SigBlk")) !== 0n;
}

function look(): void {
  for (const check of checks) {
    if (check.fd === -1) {
      const fd = sys().openPath(`/proc/${check.c.n.pid}/status`, O_RDONLY | O_CLOEXEC);
      // Opened while the notification is pending: the file is the caller's thread's (it stays bound to it).
      check.fd = fd >= 0 && sys().notifIdValid(check.c.listener, check.c.n.id) ? fd : -2;
      if (check.fd === -2) sys().close(fd);
    }
    if (check.fd < 0) continue;
    const pending = caughtPending(check.fd);
    // Read, then still the caller's: the status was the waiting thread's. Gone: end the wait too.
    if (pending !== false || !sys().notifIdValid(check.c.listener, check.c.n.id)) check.fire();
  }
}

/** Look at every held wait now and shortly after (nsbox forwarded a signal: PID 1 passes it on). */
export function wakeInterruptChecks(): void {
  if (checks.size === 0) return;
  setTimeout(look, 5);
  setTimeout(look, 30);
}

/**
 * Resolves with INTERRUPTED once the thread that made call `c` has a caught signal pending (or
 * its call is gone); never when it has not. done() ends the looking (always call it).
 */
export function interruption(c: Call): { promise: Promise<number>; done(): void } {
  let fire = () => {};
  const promise = new Promise<number>((resolve) => (fire = () => resolve(INTERRUPTED)));
  // Nothing opened until the first look: a call that ends before it costs a Set entry.
  const check: Check = { fd: -1, c, fire: () => fire() };
  checks.add(check);
  timer ??= setInterval(look, PERIOD);
  let ended = false;
  return {
    promise,
    done() {
      if (ended) return;
      ended = true;
      checks.delete(check);
      sys().close(check.fd);
      if (checks.size === 0 && timer) {
        clearInterval(timer);
        timer = undefined;
      }
    },
  };
}

/**
 * c.watch(fd, events), ended early with INTERRUPTED when the caller gets a caught signal: the
 * watcher forgets that wait (the descriptor stays the caller's to close).
 */
export async function watchInterruptible(c: Call, fd: number, events: number): Promise<number> {
  const i = interruption(c);
  try {
    return await c.watch(fd, events, i.promise);
  } finally {
    i.done();
  }
}

/**
 * c.connect(fd, address) (on a thread of its own), answered -EINTR when the caller gets a caught
 * signal first: as after the kernel's own interrupted connect, the connection goes on (the
 * thread's connect ends as TCP decides, and its result is dropped). `hold`: as Call.connect's,
 * the thread's from here on.
 */
export async function connectInterruptible(c: Call, fd: number, address: Uint8Array, hold?: number): Promise<number> {
  const i = interruption(c);
  try {
    const r = await Promise.race([c.connect(fd, address, hold), i.promise]);
    return r === INTERRUPTED ? -sys().ERRNO.EINTR! : r;
  } finally {
    i.done();
  }
}

/** A half-made host connection given up: shut at once (its wait ends), closed when the watcher lets go of it. */
export function abandon(fd: number, waited: Promise<unknown>): void {
  sys().syscall(NR_SHUTDOWN, fd, SHUT_RDWR);
  void waited.then(() => sys().close(fd));
}
