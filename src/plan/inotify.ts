// inotify's, fanotify's and the namespaces' per-user limits, which the sandbox shares with the user's own processes outside.
import { closeSync, openSync, readSync } from "node:fs";
import type { PlanBuilder } from "./builder.ts";
import { sandboxPath } from "./builder.ts";

/**
 * The kernel counts inotify instances and watches per user in every user namespace up to the
 * host's (ucounts), so without a limit of its own a payload may hold all of the user's
 * (fs.inotify.max_user_instances, max_user_watches) until it ends, and the user's editor and
 * file watchers outside get EMFILE / ENOSPC. The sandbox's own user namespace is given this
 * share of what the user has (user.max_inotify_*, written by PID 1 while it still holds
 * CAP_SYS_RESOURCE in its namespace, before /proc/sys becomes read-only), so at least the rest
 * stays the user's. It cannot protect what the user's other programs already hold.
 *
 * fanotify is counted the same way, and since Linux 5.13 an unprivileged payload may create
 * groups (FAN_REPORT_FID): without a share it held all 128 of the user's. So are the
 * namespaces a payload may create with --allow-nested (user.max_user_namespaces and the
 * others): without a share it could hold all of the user's, and the user's own sandboxes and
 * browsers outside could create none until it ended.
 */
export const INOTIFY_SHARE = 1 / 2;

/** The limit in the user namespace, the host-wide one it is also under, and what it counts. */
const LIMITS = [
  ["max_inotify_instances", "/proc/sys/fs/inotify/max_user_instances", "inotify instances"],
  ["max_inotify_watches", "/proc/sys/fs/inotify/max_user_watches", "inotify watches"],
  ["max_fanotify_groups", "/proc/sys/fs/fanotify/max_user_groups", "fanotify groups"],
  ["max_fanotify_marks", "/proc/sys/fs/fanotify/max_user_marks", "fanotify marks"],
  ...["user", "mnt", "pid", "net", "ipc", "uts", "cgroup", "time"].map((ns) => [`max_${ns}_namespaces`, `/proc/sys/user/max_${ns}_namespaces`, `${ns} namespaces`] as const),
] as const;

const BUF = Buffer.alloc(32);

/** A number in a /proc/sys file (one read of a small buffer: readFileSync costs more there). */
function readNumber(path: string): number | undefined {
  let fd = -1;
  try {
    fd = openSync(path, "r");
    const n = Number(BUF.toString("latin1", 0, readSync(fd, BUF, 0, BUF.length, 0)).trim());
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/**
 * The share each limit gets, read once per process (a library that starts many sandboxes
 * would otherwise read 24 /proc/sys files for each): the user's limits change rarely, and a
 * stale share is still a share.
 */
let shares: { own: string; value: string; counts: string }[] | undefined;

function limitShares() {
  return (shares ??= LIMITS.flatMap(([name, hostWide, counts]) => {
    // The user's limit here: the host's, or a smaller one of the namespace nsbox runs in.
    const own = `/proc/sys/user/${name}`;
    const mine = readNumber(own);
    if (mine === undefined) return []; // no inotify, or no per-namespace limit
    // The namespace limits are their own host-wide file: read once.
    const limit = hostWide === own ? mine : Math.min(mine, readNumber(hostWide) ?? mine);
    return [{ own, value: String(Math.max(1, Math.floor(limit * INOTIFY_SHARE))), counts }];
  }));
}

/** Ops that set the sandbox's shares of these limits (after its /proc is mounted, before /proc/sys is read-only). */
export function inotifyOps(b: PlanBuilder): void {
  for (const { own, value, counts } of limitShares()) {
    b.push({ op: "WRITE_FILE", path: sandboxPath(own), content: value, why: { what: `limit the sandbox to ${value} of your ${counts}`, path: own } });
  }
}
