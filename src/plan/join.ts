// buildJoinPlan: the ops of `nsbox exec`: join a running sandbox's namespaces and root, start the command under a small init, and harden it as the sandbox's own payload was.
import { readlinkSync } from "node:fs";
import { NsboxError } from "../errors.ts";
import { ownPackages } from "../packages.ts";
import type { Host } from "../host.ts";
import { checkCommand, resolved } from "../options/normalize.ts";
import type { SandboxState } from "../registry.ts";
import { PlanBuilder } from "./builder.ts";
import { sandboxEnv } from "./env.ts";
import { CLONE, SIGNAL } from "../kernel.ts";
import type { Op } from "../ops.ts";
import type { Plan, PlanIo } from "./index.ts";
import { payloadOps } from "./payload.ts";
import { joinedIds } from "./ids.ts";
import { netChoice, proxyEnv, type NetChoice } from "./network.ts";
import { landlockConfines, listenEnv, passFdPlan } from "./pass-fds.ts";
import { netMode } from "../net/mode.ts";
import { notifyProgram } from "./seccomp-notify.ts";
import { resolveAllowedSockets } from "./allow-sockets.ts";

/** The namespaces joined, user first (it grants the capabilities the others need); mnt comes last, with the root. */
const NAMESPACES = [
  ["user", CLONE.NEWUSER],
  ["cgroup", CLONE.NEWCGROUP],
  ["ipc", CLONE.NEWIPC],
  ["uts", CLONE.NEWUTS],
  ["net", CLONE.NEWNET],
  ["pid", CLONE.NEWPID],
] as const;

/** The payload's Landlock rules allow writing where the sandbox's did: its writable mounts, as recorded at start. */
class JoinBuilder extends PlanBuilder {
  constructor(private readonly writable: string[]) {
    super();
  }
  override writableMounts(): string[] {
    return [...this.writable];
  }
}

/** Whether the target's namespace differs from ours (setns into one's own user or host namespace is refused). */
function differs(proc: string, ns: string): boolean {
  try {
    return readlinkSync(`${proc}/ns/${ns}`) !== readlinkSync(`/proc/self/ns/${ns}`);
  } catch {
    return true; // let the kernel say why
  }
}

/** The sandbox's network as it was resolved at its start (its options were normalised then), @registries as the caller's host gives them. */
function network(s: SandboxState, host: Host): NetChoice {
  return netChoice(resolved(s.options).net, { ...host, home: s.home, cwd: s.cwd });
}

export interface JoinIo extends PlanIo {
  /** The directory to start in, inside (default: where the sandbox's command started). */
  chdir?: string;
  /** Variables to set, after the sandbox's own --env. */
  env?: Record<string, string>;
  /** Descriptors to pass (--pass-fd), as normalised options: exec's own, never the sandbox's recorded ones. */
  passing?: import("../options.ts").SandboxOptions;
}

/**
 * No new namespaces (clone flags 0): the clone of nsbox joins the sandbox's, enters its root,
 * then forks so that the command is in its PID namespace; the parent stays as the command's
 * init (forwarding signals, reporting its exit). The environment follows the sandbox's rules
 * (--env, --keep-env, --clear-env) applied to the caller's environment.
 */
export function buildJoinPlan(s: SandboxState, command: string[], host: Host, io: JoinIo, target = s.pid): Plan {
  ownPackages(); // found before this process joins a running sandbox (src/packages.ts)
  if (command.length === 0 || command[0] === "") {
    throw new NsboxError("BAD_OPTION", "no command given: usage is nsbox exec NAME -- command [args…]");
  }
  if (s.pid === null) throw new NsboxError("NOT_RUNNING", `sandbox ${s.name} is still starting`);
  checkCommand(command);
  const o = s.options;
  // `target` is a process in the sandbox's namespaces whose /proc may be read: its command,
  // since PID 1 is not dumpable (see registry.ts payloadOf).
  const proc = `/proc/${target}`;
  const startDir = io.chdir ?? s.startDir;
  if (!startDir.startsWith("/")) throw new NsboxError("BAD_OPTION", `--chdir ${startDir}: give an absolute path inside the sandbox`, { option: "--chdir" });
  const net = network(s, host);
  const { env, dropped } = sandboxEnv({
    base: host.env, clear: o.clearEnv ?? false, keep: o.keepEnv ?? [], home: s.home, pwd: startDir,
    set: { ...(net.mode === "allow" ? proxyEnv(net.rules) : {}), ...o.env, ...io.env },
  });

  // Descriptors as for a new sandbox (this caller's: the sandbox's own --pass-fd were its starter's);
  // make 4.4's jobserver FIFO can't be mounted into a running sandbox (a note says so).
  const passing = passFdPlan(command, io.passing ?? {}, host, { args: true, makeflags: host.env.MAKEFLAGS, fifo: false, landlocked: () => landlockConfines(o) });
  const listenPid = listenEnv(env, passing.fds);
  const b = new JoinBuilder(s.writable);
  const tie: Op = { op: "DEATH_SIGNAL", signal: SIGNAL.KILL, why: { what: "tie the command's life to nsbox exec's" } };
  b.push(tie);
  for (const [ns, flag] of NAMESPACES) {
    if (differs(proc, ns)) b.push({ op: "SETNS", path: `${proc}/ns/${ns}`, nstype: flag, why: { what: `join sandbox ${s.name}'s ${ns} namespace`, path: `${proc}/ns/${ns}` } });
  }
  b.push({ op: "CHROOT", root: `${proc}/root`, mntns: `${proc}/ns/mnt`, why: { what: `enter sandbox ${s.name}'s mount namespace and root`, path: `${proc}/root` } })
    .push(tie) // new credentials may have cleared it
    .push({ op: "CHDIR", path: startDir, why: { what: `start in ${startDir}`, option: io.chdir ? "--chdir" : undefined, path: startDir } });
  if (io.terminal) {
    // The sandbox's own devpts: the command's terminal is one of the sandbox's.
    b.push({ op: "OPEN_PTY", ptmx: "/dev/pts/ptmx", rows: io.terminal.rows, cols: io.terminal.cols, why: { what: "open a pseudo-terminal for the command" } });
  }
  // Security decision: the command joins a sandbox whose connections nsbox decides (transparent
  // mode), so its own are decided too, by this nsbox exec: without the notify filter it could
  // connect to any host socket in a shared directory. Its own listener, the same policy
  // (--allow-socket's paths resolved again now; they were bound in at the start).
  const mode = net.mode === "host" ? undefined : netMode(host.env.NSBOX_NET_MODE);
  const egress = mode?.mode === "transparent" && net.mode !== "host"
    ? { mode: net.mode, rules: net.mode === "allow" ? net.rules : [], allowSockets: resolveAllowedSockets(o, host) }
    : undefined;
  // Which Unix sockets the sandbox made, asked in its network namespace (joined above; src/net/unix-diag.ts).
  if (egress) b.push({ op: "LISTEN_TCP", port: 0, diag: true, why: { what: "open a sock_diag socket inside, to tell the sandbox's Unix sockets from the host's", option: "--net" } });
  if (egress) b.push({ op: "SECCOMP_NOTIFY", program: notifyProgram(), why: { what: "hand nsbox the command's connections and sends (seccomp user notification)", option: "--net" } });
  // A filter file is not read again: the sandbox's payload may have rewritten it (registry.ts).
  const fromFile = o.seccomp !== undefined && o.seccomp !== "default" && o.seccomp !== "none";
  if (fromFile && !s.seccompFilter) throw new NsboxError("STATE_DIR", `sandbox ${s.name} was started with --seccomp ${o.seccomp} by an nsbox that did not record the filter: stop it and start it again`);
  payloadOps(b, o, {
    command, env, terminal: io.terminal, first: [tie],
    spawn: { what: "start the command in the sandbox's PID namespace" },
    installed: fromFile ? Buffer.from(s.seccompFilter!, "base64") : undefined,
    passFds: passing.fds, listenPid,
    ids: joinedIds(proc, { uid: o.uid ?? 0, gid: o.gid ?? 0 }),
  });
  return { ops: b.ops, cloneFlags: 0, command, env, droppedEnv: dropped, startDir, terminal: io.terminal !== null, terminalFds: io.terminal ? io.terminal.fds ?? 7 : 0, notes: passing.notes, net, passFds: passing.fds, ...(egress ? { egress } : {}) };
}
