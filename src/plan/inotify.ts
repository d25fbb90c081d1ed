// inotify's, fanotify's and the namespaces' per-user limits, which the sandbox shares with the user's own processes outside.
import { readFileSync } from "node:fs";
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

function readNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, "utf8").trim());
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Ops that set the sandbox's shares of these limits (after its /proc is mounted, before /proc/sys is read-only). */
export function inotifyOps(b: PlanBuilder): void {
  for (const [name, hostWide, counts] of LIMITS) {
    // The user's limit here: the host's, or a smaller one of the namespace nsbox runs in.
    const own = `/proc/sys/user/${name}`;
    const limits = [readNumber(hostWide), readNumber(own)].filter((n): n is number => n !== undefined);
    if (limits.length === 0 || readNumber(own) === undefined) continue; // no inotify, or no per-namespace limit
    const value = String(Math.max(1, Math.floor(Math.min(...limits) * INOTIFY_SHARE)));
    b.push({ op: "WRITE_FILE", s1: sandboxPath(own), s2: value, a: value.length, why: { what: `limit the sandbox to ${value} of your ${counts}`, path: own } });
  }
}
