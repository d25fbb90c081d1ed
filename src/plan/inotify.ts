// inotify's per-user limits, which the sandbox shares with the user's own processes outside.
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
 */
export const INOTIFY_SHARE = 1 / 2;

const LIMITS = [
  ["max_inotify_instances", "/proc/sys/fs/inotify/max_user_instances"],
  ["max_inotify_watches", "/proc/sys/fs/inotify/max_user_watches"],
] as const;

function readNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, "utf8").trim());
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Ops that set the sandbox's inotify limits (after its /proc is mounted, before /proc/sys is read-only). */
export function inotifyOps(b: PlanBuilder): void {
  for (const [name, hostWide] of LIMITS) {
    // The user's limit here: the host's, or a smaller one of the namespace nsbox runs in.
    const own = `/proc/sys/user/${name}`;
    const limits = [readNumber(hostWide), readNumber(own)].filter((n): n is number => n !== undefined);
    if (limits.length === 0 || readNumber(own) === undefined) continue; // no inotify, or no per-namespace limit
    const value = String(Math.max(1, Math.floor(Math.min(...limits) * INOTIFY_SHARE)));
    b.push({ op: "WRITE_FILE", s1: sandboxPath(own), s2: value, a: value.length, why: { what: `limit the sandbox to ${value} of your inotify ${name.slice("max_inotify_".length)}`, path: own } });
  }
}
