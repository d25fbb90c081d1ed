// Which way --net none and --net allow= work on this kernel: "transparent" (seccomp user
// notification with ADDFD: every program's connections are decided by nsbox, src/net/unotify.ts)
// or "proxy" (the sandbox reaches only nsbox's proxy, for programs that honour HTTP_PROXY).
import { readFileSync } from "node:fs";
import { release } from "node:os";

export type NetMode = { mode: "transparent" } | { mode: "proxy"; why: string };

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
};

/**
 * The facts are the running kernel's: its release (SECCOMP_ADDFD_FLAG_SETFD came in 5.14),
 * `user_notif` among seccomp's actions, and Yama's ptrace_scope (pidfd_getfd and
 * process_vm_readv need ptrace access to the payload: 2 and 3 refuse it). `force` is the CLI's
 * own NSBOX_NET_MODE=proxy (tests of the fallback), never the sandbox's or a project's.
 */
export function netMode(force?: string, facts = { release: release(), actions: read("/proc/sys/kernel/seccomp/actions_avail"), yama: read("/proc/sys/kernel/yama/ptrace_scope") }): NetMode {
  if (force === "proxy") return { mode: "proxy", why: "NSBOX_NET_MODE=proxy" };
  const [major = 0, minor = 0] = facts.release.split(/[.-]/).map((n) => parseInt(n, 10) || 0);
  if (major < 5 || (major === 5 && minor < 14)) return { mode: "proxy", why: `kernel ${major}.${minor} lacks seccomp ADDFD, 5.14` };
  if (!facts.actions?.split(/\s+/).includes("user_notif")) return { mode: "proxy", why: "the kernel's seccomp has no user_notif (/proc/sys/kernel/seccomp/actions_avail)" };
  if (facts.yama !== undefined && Number(facts.yama) > 1) return { mode: "proxy", why: `kernel.yama.ptrace_scope is ${facts.yama} (nsbox needs 1 or less to take the sandbox's sockets)` };
  return { mode: "transparent" };
}

/** "transparent" or "proxy (why)", as doctor and --verbose say it. */
export const describeNetMode = (m: NetMode): string => (m.mode === "transparent" ? "transparent" : `proxy (${m.why})`);
