// Run a plan: start the executor, follow its reports, forward signals, relay the terminal, build the result.
import { NsboxError } from "./errors.ts";
import { closeFd, killPid, pidfdOpen, pipe, rawSyscall, receiveFd, socketPair, spawnPlan, waitPid } from "./executor.ts";
import { explainClone, explainStep } from "./explain.ts";
import { REPORT, SIGNAL, STEP_CLONE } from "./kernel.ts";
import { errnoName, errnoText } from "./errno.ts";
import { wakeInterruptChecks } from "./net/interrupt.ts";
import { encodePlan } from "./ops.ts";
import { FORWARDED_SIGNALS, type Plan } from "./plan/index.ts";
import { holdWatches, releaseWatches, type Held } from "./plan/protected.ts";
import { writeSync } from "node:fs";
import { constants } from "node:os";
import { recordWorkDirs, removeWorkDirs, type WorkRecord } from "./work-dirs.ts";

/** How a sandbox ended. `exitCode` follows the CLI's rules (125/126/127, status, 128+N). */
export interface Outcome {
  exitCode: number;
  /** The signal that killed the payload, if one did. */
  signal: NodeJS.Signals | null;
  /** nsbox's own failure (setup refused, command not found…), if any. */
  error?: NsboxError;
  /**
   * Protected files the sandbox created or replaced, moved aside after it ended
   * (plan/protected.ts); work directories that could not be removed; callbacks that failed.
   */
  warnings?: string[];
}

export interface SuperviseHooks {
  /** Called as each setup step starts (verbose mode). */
  onStep?: (index: number) => void;
  /** Called with the host pid of the sandbox's PID 1 once it runs. */
  onStart?: (pid: number) => void;
  /** Called with a socket the sandbox made for nsbox to serve: the network proxy's, the resolver's, or the sock_diag one the Unix-socket policy asks (the callee owns it). */
  onListen?: (fd: number, which: "proxy" | "resolver" | "diag") => void;
  /**
   * Called with nsbox's copy of the notify filter's listener (plan.egress; src/net/unotify.ts)
   * and the host pid of PID 1 (the callee owns the listener); it must start serving before it
   * returns (a throw fails the step). Without it: destinations inside the sandbox only.
   */
  onNotify?: (listener: number, pid: number) => void;
  /** Called instead of onNotify when the kernel gave the sandbox no listener (one is in place above it): it runs as in proxy mode. */
  onNoListener?: () => void;
  /**
   * Told, at once, when a hook above throws or a report can't be handled: the sandbox goes on
   * (a crash of nsbox's side must not kill the payload). Without it, the line joins `warnings`.
   */
  warn?: (line: string) => void;
  stdio?: { stdin: number; stdout: number; stderr: number };
  verbose?: boolean;
  /**
   * Pass SIGINT, SIGTERM and the other forwarded signals this process receives on to the
   * sandbox (default true: the CLI stands in for the sandbox). The library turns it off: the
   * host program's signals are its own, and fifty sandboxes must not each take its SIGINT.
   */
  forwardSignals?: boolean;
}

/** A sandbox that has started: its PID 1, a way to signal it, and how it ends. */
export interface Running {
  /** The host pid of the sandbox's PID 1. */
  pid: number;
  /**
   * Send signal `sig` to PID 1. False when kill(2) fails, and once PID 1 has been reaped: its
   * pid may then belong to another process, so nothing is sent.
   */
  kill(sig: number): boolean;
  /** Settles once PID 1 has exited and been reaped. */
  outcome: Promise<Outcome>;
}

const RECORD = 16;

const signalName = (n: number) =>
  (Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? `SIG${n}`) as NodeJS.Signals;

/** Start the sandbox described by `plan` and wait for it to end. Never throws for the payload's own failure. */
export async function supervise(plan: Plan, hooks: SuperviseHooks = {}): Promise<Outcome> {
  let running: Running;
  try {
    running = start(plan, hooks);
  } catch (e) {
    if (!(e instanceof NsboxError)) throw e;
    return { exitCode: e.exitCode, signal: null, error: e };
  }
  return running.outcome;
}

/**
 * Start the sandbox described by `plan`: PID 1 exists when this returns, and `outcome` follows
 * it to the end. Throws NsboxError when the kernel refuses to create the namespaces.
 */
export function start(plan: Plan, hooks: SuperviseHooks = {}): Running {
  const [reportRead, reportWrite] = pipe("make the pipe the sandbox reports on");
  // The control socket carries descriptors out of the sandbox: its pty master, the proxy's socket.
  let control: [number, number] = [-1, -1];
  try {
    if (plan.terminal || plan.proxy || plan.idMap || plan.egress || plan.ops.some((o) => o.op === "LISTEN_TCP")) control = socketPair("make the socket the sandbox passes its terminal and network on");
  } catch (e) {
    closeFd(reportRead);
    closeFd(reportWrite);
    throw e;
  }
  const [controlParent, controlChild] = control;
  const encoded = encodePlan(plan.ops, plan.cloneFlags, hooks.verbose ?? false);
  const stdio = hooks.stdio ?? { stdin: -1, stdout: -1, stderr: -1 };
  // Signals sent to nsbox go to the sandbox's PID 1, which passes them to the payload. The
  // handlers are in place before the clone, so that none of them can kill nsbox in between;
  // what arrives before the pid is known is sent as soon as it is.
  let pid = 0;
  // Once PID 1 is reaped its pid is free for reuse by any process: from then on, send nothing.
  let reaped = false;
  const kill = (sig: number) => pid > 0 && !reaped && killPid(pid, sig) === 0;
  const early: NodeJS.Signals[] = [];
  // wakeInterruptChecks: a trapped call nsbox holds ends with EINTR once the signal is the payload's.
  const forward = (sig: NodeJS.Signals) => void (pid > 0 ? (kill(constants.signals[sig]), wakeInterruptChecks()) : early.push(sig));
  // On a terminal the relay follows window sizes itself (terminal.ts), and SIGCONT is the job's:
  // the relay tells the init whether the payload goes on in the foreground or the background.
  const forwarded = hooks.forwardSignals === false ? [] : FORWARDED_SIGNALS.filter((s) => !(plan.terminal && (s === "SIGWINCH" || s === "SIGCONT")));
  for (const s of forwarded) process.on(s, forward);
  let held: Held[];
  let record: WorkRecord | undefined;
  try {
    held = holdWatches(plan.watch ?? []);
    // Before the sandbox makes them: a kill of this process then leaves them to the next run.
    record = recordWorkDirs(plan.cleanup ?? []);
  } catch (e) {
    for (const s of forwarded) process.off(s, forward);
    for (const fd of [reportRead, reportWrite, controlParent, controlChild]) if (fd >= 0) closeFd(fd);
    throw e;
  }
  pid = spawnPlan(encoded, { report: reportWrite, control: controlChild, ...stdio });
  closeFd(reportWrite);
  if (controlChild >= 0) closeFd(controlChild);
  if (pid < 0) {
    removeWorkDirs([], record);
    releaseWatches(held);
    for (const s of forwarded) process.off(s, forward);
    closeFd(reportRead);
    if (controlParent >= 0) closeFd(controlParent);
    throw explainClone(-pid);
  }
  // Loaded only for --id-map auto: every module at start costs a descriptor while Bun loads it (ulimit -n).
  if (plan.idMap) (require("./id-map.ts") as typeof import("./id-map.ts")).writeIdMaps(pid, plan, controlParent);
  for (const s of early) forward(s);
  hooks.onStart?.(pid);
  const outcome = follow(plan, hooks, pid, kill, reportRead, controlParent, held, record, () => {
    reaped = true;
    for (const s of forwarded) process.off(s, forward);
  });
  return { pid, kill, outcome };
}

const EIO = 5;
const NR_PIDFD_GETFD = 438; // the same number on x86_64 and aarch64
/**
 * nsbox's copy of descriptor `fd` of PID 1 (its seccomp listener): pidfd_getfd works while PID 1
 * is still dumpable and alone in the sandbox (before SPAWN). -errno when it fails. Through the
 * executor's generic system call: nothing of the network's code is read for it.
 */
function takeListener(pid: number, fd: number): number {
  const pidfd = pidfdOpen(pid);
  if (pidfd < 0) return pidfd;
  const listener = rawSyscall(new BigInt64Array([BigInt(NR_PIDFD_GETFD), BigInt(pidfd), BigInt(fd), 0n, 0n, 0n, 0n]));
  closeFd(pidfd);
  return listener;
}

/** Without an onNotify hook: destinations inside the sandbox are reached, every other one refused. */
function serveInsideOnly(listener: number): void {
  const { serveNotifications, insideOnly } = require("./net/unotify.ts") as typeof import("./net/unotify.ts");
  serveNotifications(listener, insideOnly);
}

/** Read PID 1's reports until it exits, reap it (then `onReaped`), and build the Outcome. */
async function follow(plan: Plan, hooks: SuperviseHooks, pid: number, kill: (sig: number) => boolean, reportRead: number, controlParent: number, held: Held[], record: WorkRecord | undefined, onReaped: () => void): Promise<Outcome> {
  let failure: { index: number; errno: number } | undefined;
  const warnings: string[] = [];
  const warn = (line: string) => {
    if (!hooks.warn) return void warnings.push(line);
    try {
      hooks.warn(line);
    } catch {
      warnings.push(line);
    }
  };
  /** Run one piece of nsbox's side; a throw is reported in one line and the sandbox goes on. */
  const guarded = async (what: string, f: () => unknown) => {
    try {
      await f();
    } catch (e) {
      warn(`${what} failed (${e instanceof Error ? e.message : String(e)}); the sandbox goes on`);
    }
  };
  let status: number | undefined;
  let silent = false;
  let relay: import("./terminal.ts").TerminalRelay | undefined;
  try {
    let pending = new Uint8Array(0);
    for await (const chunk of Bun.file(reportRead).stream()) {
      const data = new Uint8Array(pending.length + chunk.length);
      data.set(pending);
      data.set(chunk, pending.length);
      const view = new DataView(data.buffer);
      let at = 0;
      for (; at + RECORD <= data.length; at += RECORD) {
        const [kind, index, value] = [0, 4, 8].map((o) => view.getInt32(at + o, true));
        if (kind === REPORT.STEP) {
          if (hooks.onStep) await guarded("reporting a setup step", () => hooks.onStep!(index!));
        } else if (kind === REPORT.FAIL) failure ??= { index: index!, errno: value! };
        else if (kind === REPORT.EXIT) status = value;
        else if (kind === REPORT.PTY) {
          const master = receiveFd(controlParent);
          if (master >= 0) {
            await guarded("relaying the terminal", async () => {
              try {
                (relay = new (await import("./terminal.ts")).TerminalRelay(master, plan.terminalFds ?? 7, kill)).start();
              } catch (e) {
                if (!relay) closeFd(master);
                throw e;
              }
            });
          }
        } else if (kind === REPORT.STOPPED) {
          // The payload stopped (Ctrl-Z): nsbox's job stops too, and goes on with it. Without a
          // relay, nothing would continue it: it goes on at once.
          if (relay) await guarded("stopping with the command", () => relay!.stopped(value!));
          else kill(SIGNAL.CONT);
        } else if (kind === REPORT.NOTIFY && value! < 0) {
          // Another seccomp listener above this sandbox (nested): it runs without, as in proxy mode.
          if (hooks.verbose) warn("network: proxy (a seccomp listener is in place already: a sandbox or container around nsbox)");
          if (hooks.onNoListener) await guarded("starting the network without a listener", () => hooks.onNoListener!());
        } else if (kind === REPORT.NOTIFY) {
          // PID 1 waits for one byte: 0 once nsbox holds the listener, else the errno that fails the step.
          // The hook starts serving before PID 1 goes on; if it can't, the step fails (a payload
          // whose connections nobody answers would hang at its first one).
          let listener = takeListener(pid, value!);
          if (listener >= 0) {
            try {
              (hooks.onNotify ?? serveInsideOnly)(listener, pid);
            } catch (e) {
              warn(`taking the sandbox's connections failed (${e instanceof Error ? e.message : String(e)})`);
              closeFd(listener);
              listener = -EIO;
            }
          }
          try {
            writeSync(controlParent, new Uint8Array([listener < 0 ? Math.min(-listener, 255) : 0]));
          } catch {} // PID 1 gone: its end-of-file ends this loop
        } else if (kind === REPORT.LISTEN) {
          const listener = receiveFd(controlParent);
          if (listener >= 0) {
            const op = plan.ops[index!];
            const which = op?.op === "LISTEN_TCP" && op.diag ? "diag" : op?.op === "LISTEN_TCP" && op.udp ? "resolver" : "proxy";
            if (hooks.onListen) await guarded(`starting the network ${which}`, () => hooks.onListen!(listener, which));
            else closeFd(listener);
          }
        }
      }
      pending = data.slice(at);
    }
  } finally {
    // End-of-file: PID 1 has exited (or is about to); reap it.
    let initStatus: number | undefined;
    try {
      initStatus = waitPid(pid);
    } finally {
      onReaped();
    }
    // Every process of the sandbox is gone (PID 1 reaped ends its PID namespace): what it left in
    // place of protected files goes aside first, so that nothing after it can skip the move.
    // What fails after this point is a warning: the payload's status is the result.
    await guarded("moving aside protected files", () => void warnings.push(...releaseWatches(held)));
    closeFd(reportRead);
    if (controlParent >= 0) closeFd(controlParent);
    await guarded("ending the terminal relay", () => relay?.finish());
    // PID 1 reports the payload's status; 125 without a report is its own failure before the first step.
    if (status === undefined && initStatus === 125 << 8 && !failure) silent = true;
    status ??= initStatus;
    await guarded("removing the overlay work directories", () => void warnings.push(...removeWorkDirs(plan.cleanup ?? [], record)));
  }

  const extra = warnings.length ? { warnings } : {};
  if (failure) {
    const error = failure.index === STEP_CLONE ? netnsRefused(failure.errno) : explainStep(plan.ops[failure.index], failure.errno, plan.command[0]!);
    return { exitCode: error.exitCode, signal: null, error, ...extra };
  }
  if (silent) {
    const error = new NsboxError("KERNEL_REFUSED", "the sandbox's first process ended with status 125 without reporting why", {
      hint: "nsbox may be short of file descriptors (ulimit -n) or memory; nsbox -v shows the steps it reached",
    });
    return { exitCode: 125, signal: null, error, ...extra };
  }
  return { ...statusOutcome(status!), ...extra };
}

const ENOSPC = 28;
/** PID 1 could not make its network namespace (executor/spawn.c makes it right after the clone). */
function netnsRefused(errno: number): NsboxError {
  const hint = errno === ENOSPC
    ? "the limit of network namespaces is reached (user.max_net_namespaces); raise it (as root): sudo sysctl -w user.max_net_namespaces=15000, or run with --net host"
    : "this process may itself be confined (a container's seccomp profile, or a sandbox that forbids new network namespaces); run nsbox doctor, or run with --net host";
  return new NsboxError("KERNEL_REFUSED", `can't create the sandbox's network namespace: ${errnoText(errno)} (${errnoName(errno)})`, { hint, errno });
}

/** Decode a wait status: exit code, or 128+N for death by signal N. */
export function statusOutcome(status: number): Outcome {
  const sig = status & 0x7f;
  if (sig === 0) return { exitCode: (status >> 8) & 0xff, signal: null };
  return { exitCode: 128 + sig, signal: signalName(sig) };
}
