// The payload's part of a plan, shared by a new sandbox (plan/index.ts) and nsbox exec
// (plan/join.ts): start it under the init, give it a session and its terminal, harden it, exec.
import type { SandboxOptions } from "../options.ts";
import type { Op, Purpose } from "../ops.ts";
import { SIGNAL } from "../kernel.ts";
import type { PlanBuilder } from "./builder.ts";
import { execCandidates } from "./command.ts";
import { hardeningOps, type IdPolicy } from "./hardening.ts";

/** Signals PID 1 passes on to the payload (the parent passes the same ones to PID 1). */
export const FORWARDED_SIGNALS = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGCONT", "SIGWINCH"] as const;

export interface PayloadSpec {
  command: string[];
  env: Record<string, string>;
  /** The pty's size and which of stdin, stdout, stderr it replaces, or null for none. */
  terminal: { rows: number; cols: number; fds?: number } | null;
  /** Why the payload is started, e.g. "start the command under the sandbox's init". */
  spawn: Purpose;
  /** Ops the payload runs first (nsbox exec ties its life to its parent's again). */
  first?: Op[];
  /** The seccomp filter a running sandbox got (nsbox exec installs the same). */
  installed?: Uint8Array;
  /** The caller's descriptors, placed at their numbers right before the exec (plan/pass-fds.ts). */
  passFds?: readonly { fd: number; why: string }[];
  /** env holds LISTEN_PID= for the executor to fill with the command's pid (socket activation). */
  listenPid?: boolean;
  /** The ids the user namespace maps, and the capabilities root inside keeps for them (plan/ids.ts). */
  ids?: IdPolicy;
}

/** Append SPAWN and every op after it: from SPAWN on, the ops run in the payload's own process. */
export function payloadOps(b: PlanBuilder, o: SandboxOptions, p: PayloadSpec): void {
  const forward = FORWARDED_SIGNALS.map((s) => SIGNAL[s.slice(3) as keyof typeof SIGNAL]);
  b.push({ op: "SPAWN", forward, why: p.spawn });
  for (const op of p.first ?? []) b.push(op);
  // On a terminal the session is the pty's, which the init leads (executor/pty.c): the command
  // is its foreground job, and Ctrl-Z can stop it. Without one, a session of its own.
  if (p.terminal) b.push({ op: "USE_PTY", fds: p.terminal.fds ?? 7, why: { what: "attach the command to its pseudo-terminal" } });
  else b.push({ op: "SETSID", why: { what: "give the command a session of its own" } }).push({ op: "BLOCKING_STDIO", why: { what: "pass standard input and output through" } });
  // The caller's descriptors at their numbers once the pty no longer needs its fixed one, before
  // the limits: a passed 63 (bash's <(…)) still lands under --rlimit nofile=16.
  if (p.passFds?.length) {
    const fds = p.passFds.map((f) => f.fd);
    b.push({ op: "PASS_FDS", fds, why: { what: `pass descriptor${fds.length > 1 ? "s" : ""} ${fds.join(", ")} to the command (${[...new Set(p.passFds.map((f) => f.why))].join("; ")})` } });
  }
  hardeningOps(b, o, undefined, p.installed, p.ids);
  b.push({
    op: "EXEC",
    candidates: execCandidates(p.command[0]!, p.env.PATH),
    argv: p.command,
    envp: Object.entries(p.env).map(([k, v]) => `${k}=${v}`),
    ...(p.listenPid ? { listenPid: true } : {}),
    why: { what: `run ${p.command[0]}`, path: p.command[0] },
  });
}
