// The reader of the notification watcher (executor/notify.c): a C thread polls the seccomp
// listener and the descriptors asked about, and writes fixed-size records on a pipe that this
// streams. Nothing of the network's policy is read here: a notification goes to the caller
// (src/net/unotify.ts answers it), a ready descriptor settles its wait. So a sandbox whose
// payload never connects, sends or asks a name costs the executor's thread and this file only.
import { ptr } from "bun:ffi";
import { closeFd, pipe, rawSyscall, startWatcher } from "../executor.ts";
import type { Notification } from "./sys.ts";

/** What the reader gives the dispatcher, and the session its waits. */
export interface Served {
  /** Resolves with the revents once `fd` is ready for `events` (poll(2) bits), or with what `cancel` resolves with first (the watcher forgets `fd`); POLLHUP | ENDED once the watcher has ended. */
  watch(fd: number, events: number, cancel?: Promise<number>): Promise<number>;
  /** connect(2) of `fd` to `address` on a thread of its own (src/net/sys.ts connectOnThread): 0 or -errno. `hold`: the thread's to close. */
  connect(fd: number, address: Uint8Array, hold?: number): Promise<number>;
  stop(): void;
}

const POLLHUP = 16, POLLNVAL = 32;
/** A revents bit no poll(2) event uses (nor src/net/interrupt.ts's INTERRUPTED): with POLLHUP, the watcher has ended (every filtered process is gone, or stop()), not the descriptor. */
export const ENDED = 1 << 17;
const ECONNABORTED = 103, EAGAIN = 11;
const O_NONBLOCK = 0o4000;
const F_DUPFD_CLOEXEC = 1030, F_SETFL = 4;
const RECORD = 96;
/** Connects running at once on threads of their own (Served.connect); one more is answered EAGAIN. */
const CONNECTS_MAX = 256;
const X64 = process.arch === "x64";
const NR_WRITE = X64 ? 1 : 64, NR_FCNTL = X64 ? 72 : 25, NR_CLOSE = X64 ? 3 : 57, NR_IOCTL = X64 ? 16 : 29;
const SECCOMP_IOCTL_NOTIF_SEND = 0xc0182101, EPERM = 1;

/** A cancelled wait's place in its descriptor's list until the watcher says it forgot it. */
const FORGOTTEN = (_: number) => {};

const args = new BigInt64Array(7);
/** The few calls the reader makes itself, through the executor's generic one: the result or -errno. */
function syscall(nr: number, a: number | bigint, b: number | bigint, c: number | bigint): number {
  args[0] = BigInt(nr);
  args[1] = BigInt(a);
  args[2] = BigInt(b);
  args[3] = BigInt(c);
  return rawSyscall(args);
}
const request = new Int32Array(2);
/** One request to the watcher (watch `fd` for `events`; events 0: forget it). Never blocks: the pipe is non-blocking. */
const ask = (control: number, fd: number, events: number): boolean => {
  request[0] = fd;
  request[1] = events;
  return syscall(NR_WRITE, control, ptr(request), 8) === 8;
};

/** Answer notification `id` on `listener` with -`errno` (struct seccomp_notif_resp): never CONTINUE. */
function refuse(listener: number, id: bigint, errno: number): void {
  const resp = new BigInt64Array(3);
  resp[0] = id;
  resp[2] = BigInt(-errno >>> 0); // error (s32), then flags 0
  syscall(NR_IOCTL, listener, SECCOMP_IOCTL_NOTIF_SEND, ptr(resp));
}

/**
 * Read the records of a watcher started on `listener` (nsbox's copy, owned from now on: closed
 * when the records end) until every filtered process is gone, or stop(). Each notification
 * goes to `onNotification` in the order received; the caller answers it (never CONTINUE). A
 * throw there (a module that could not be read) answers that call EPERM here: none waits forever.
 */
export function readNotifications(listener: number, onNotification: (n: Notification) => void): Served {
  const [recordRead, recordWrite] = pipe("make the pipe the notification watcher writes to");
  let controlRead: number, controlWrite: number;
  try {
    [controlRead, controlWrite] = pipe("make the pipe the notification watcher reads");
  } catch (e) {
    closeFd(recordRead);
    closeFd(recordWrite);
    throw e;
  }
  // Never blocks nsbox: a full request pipe answers that wait with POLLNVAL instead.
  syscall(NR_FCNTL, controlWrite, F_SETFL, O_NONBLOCK);
  // The record pipe's write end for the connect threads (each takes its own copy): closed when
  // the watcher ends (stop(), or no process left), so that the records end once they all have.
  let records = syscall(NR_FCNTL, recordWrite, F_DUPFD_CLOEXEC, 0);
  const started = startWatcher(listener, recordWrite, controlRead);
  if (started < 0) {
    for (const fd of [recordRead, recordWrite, controlRead, controlWrite, records]) if (fd >= 0) closeFd(fd);
    throw new Error(`can't start the notification watcher: errno ${-started}`);
  }
  let ended = false;
  let controlOpen = true;
  const connecting = new Map<number, (r: number) => void>();
  let token = 0;
  const connect = (fd: number, address: Uint8Array, hold = -1): Promise<number> => {
    // `hold` is the thread's from here on, whatever happens (sys.connectOnThread).
    const refuse = (errno: number) => (hold >= 0 && closeFd(hold), Promise.resolve(-errno));
    if (ended || records < 0) return refuse(ECONNABORTED);
    if (connecting.size >= CONNECTS_MAX) return refuse(EAGAIN);
    token = (token + 1) & 0x7fffffff;
    const mine = token;
    // Read by the dispatcher only, which has read sys.ts already.
    const { connectOnThread } = require("./sys.ts") as typeof import("./sys.ts");
    return new Promise((resolve) => {
      const r = connectOnThread(fd, address, records, mine, hold);
      if (r < 0) return resolve(r);
      connecting.set(mine, resolve);
    });
  };
  const closeRecords = () => {
    if (records >= 0) syscall(NR_CLOSE, records, 0, 0);
    records = -1;
  };
  const waiting = new Map<number, ((revents: number) => void)[]>();
  const watch = (fd: number, events: number, cancel?: Promise<number>): Promise<number> => {
    if (ended || !controlOpen) return Promise.resolve(POLLHUP | ENDED);
    return new Promise((resolve) => {
      const list = waiting.get(fd) ?? [];
      list.push(resolve);
      waiting.set(fd, list);
      if (!ask(controlWrite, fd, events)) {
        list.splice(list.indexOf(resolve), 1);
        resolve(POLLNVAL);
      }
      // Cancelled (src/net/interrupt.ts): the watcher forgets the descriptor, and until it says so
      // (revents 0) a placeholder takes the records of the old wait, not a later one's on the same number.
      void cancel?.then((value) => {
        const at = list.indexOf(resolve);
        if (at < 0) return;
        const forgot = controlOpen && ask(controlWrite, fd, 0);
        if (forgot) list[at] = FORGOTTEN;
        else list.splice(at, 1);
        resolve(value);
      });
    });
  };
  const stop = () => {
    if (!controlOpen) return;
    controlOpen = false;
    closeFd(controlWrite);
    closeRecords();
  };

  // Read from the next microtask on: the thread serves the listener already, and what it writes
  // waits in the pipe; the caller acks PID 1 first (src/supervise.ts), so the payload starts sooner.
  queueMicrotask(async () => {
    let pending = new Uint8Array(0);
    try {
      for await (const chunk of Bun.file(recordRead).stream()) {
        const data = new Uint8Array(pending.length + chunk.length);
        data.set(pending);
        data.set(chunk, pending.length);
        const v = new DataView(data.buffer);
        let at = 0;
        for (; at + RECORD <= data.length; at += RECORD) {
          const kind = v.getInt32(at, true), fd = v.getInt32(at + 4, true), revents = v.getInt32(at + 8, true);
          if (kind === 1) {
            const args: bigint[] = [];
            for (let i = 0; i < 6; i++) args.push(v.getBigUint64(at + 48 + 8 * i, true));
            const id = v.getBigUint64(at + 16, true);
            try {
              onNotification({ id, pid: v.getUint32(at + 24, true), nr: v.getInt32(at + 32, true), arch: v.getUint32(at + 36, true), ip: v.getBigUint64(at + 40, true), args, raw: data.subarray(at + 16, at + RECORD) });
            } catch {
              refuse(listener, id, EPERM);
            }
          } else if (kind === 2) {
            const list = waiting.get(fd);
            if (list?.[0] === FORGOTTEN) {
              if (revents === 0) list.shift();
            } else if (revents !== 0) {
              list?.shift()?.(revents);
            }
          } else if (kind === 5) {
            const done = connecting.get(fd);
            connecting.delete(fd);
            done?.(revents);
          } else if (kind === 3 || kind === 4) {
            closeRecords();
          }
        }
        pending = data.slice(at);
      }
    } catch {
      // The pipe failed: nothing more comes; end as when every process is gone.
    } finally {
      ended = true;
      stop();
      closeFd(recordRead);
      for (const list of waiting.values()) for (const resolve of list) resolve(POLLHUP | ENDED);
      waiting.clear();
      closeRecords();
      for (const resolve of connecting.values()) resolve(-ECONNABORTED);
      connecting.clear();
      closeFd(listener);
    }
  });
  return { watch, connect, stop };
}
