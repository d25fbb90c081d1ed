// The seccomp user-notification dispatcher: every connect, sendto with an address, sendmsg and
// sendmmsg of the payload comes here (src/plan/seccomp-notify.ts), and nsbox executes it itself
// on its own copy of the arguments, on a duplicate of the payload's socket, or answers an errno.
// Never SECCOMP_USER_NOTIF_FLAG_CONTINUE: another thread of the payload could rewrite the
// address between nsbox's check and the kernel's own read.
import type { Notification } from "./sys.ts";
import type { decodeSockaddr } from "./sockaddr.ts";

export type { Notification };

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
  /** Resolves with the revents once `fd` is ready for `events` (poll(2) bits). */
  watch(fd: number, events: number): Promise<number>;
}

export type Reply = { val: number } | { errno: number };

export interface NotifyHandlers {
  connectInet(c: Call, to: { family: 2 | 10; address: string; port: number } | { family: 0 }): Promise<Reply>; // owner: egress
  connectUnix(c: Call, to: { path: Uint8Array; abstract: boolean }): Promise<Reply>; // owner: unix
  /** A send naming a destination: how to execute it. */
  sendDestination(c: Call, to: NonNullable<ReturnType<typeof decodeSockaddr>>): Promise<{ address: Uint8Array } | { errno: number }>; // egress for inet, unix for AF_UNIX (notify routes by family)
}

export interface Served {
  watch(fd: number, events: number): Promise<number>;
  stop(): void;
}

/** Serve the notifications of `listener` until every filtered process is gone or stop() (in progress). */
export function serveNotifications(listener: number, handlers: NotifyHandlers): Served {
  void listener, handlers;
  throw new Error("serveNotifications: not implemented yet");
}
