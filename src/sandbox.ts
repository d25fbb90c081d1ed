// Launch a built plan, the one way the CLI, the library and `nsbox exec` all do: registry,
// network session, notes, verbose steps, timeout and abort, and one result shape for every end.
import { constants } from "node:os";
import { NsboxError } from "./errors.ts";
import { openFileLimit, outOfDescriptors, tooFewDescriptors } from "./errno.ts";
import { FDS_NEEDED } from "./kernel.ts";
import type { SandboxOptions } from "./options.ts";
import type { Plan } from "./plan/index.ts";
import { start, type Outcome } from "./supervise.ts";
import { optionLabel } from "./options/normalize.ts";
import { sweepWorkDirs } from "./work-dirs.ts";
import { originOf } from "./options/normalize.ts";
import { optionOf, originText } from "./options/problem.ts";

/** --net-log named where it was written: the flag, the config file's key, or the library's `netLog`. */
function logNamed(options: SandboxOptions): { text: string; option?: string } {
  const origin = originOf(options, "netLog");
  const text = originText(origin);
  return { text: origin.from === "library" ? `${text} ${JSON.stringify(options.netLog)}` : text, option: optionOf(origin) ?? "--net-log" };
}

/** Give the notify listener to the network session, or serve it with the inside-only handlers. */
function serveEgress(net: import("./net/session.ts").NetSession | undefined, listener: number, plan: Plan, report: Report): (() => void) | undefined {
  const session = net as { onNotify?: (listener: number) => void } | undefined;
  if (session?.onNotify) return void session.onNotify(listener);
  const { serveNotifications, insideOnly } = require("./net/unotify.ts") as typeof import("./net/unotify.ts");
  const { withUnixSockets, noteOnce } = require("./net/unix-socket.ts") as typeof import("./net/unix-socket.ts");
  const handlers = withUnixSockets(insideOnly, { allowed: plan.egress?.allowSockets ?? [], report: noteOnce((line) => report("note", line)) });
  serveNotifications(listener, handlers);
  return handlers.close;
}

/**
 * How nsbox's lines are shown. "warn": something the user must see (files moved aside, a
 * cleanup or a callback that failed); "note": what the plan or the proxy has to say (the
 * current directory not shared, blocked connections); "debug": verbose detail (each setup
 * step). The CLI prints notes as warnings; the library only when verbose.
 */
export type Report = (level: "warn" | "note" | "debug", line: string) => void;

/** What to launch a plan with, besides the plan. */
export interface LaunchSettings {
  /** The options the plan was built from: `verbose`, `timeout` (ms), `netLog`; recorded for `nsbox ps` when registered. */
  options?: SandboxOptions;
  /** List it for nsbox ps, inspect, exec and stop (under `options.name`, or a generated name). */
  register?: boolean;
  /** Aborting it kills the sandbox (SIGKILL to PID 1). */
  signal?: AbortSignal;
  /** Descriptors for the payload's stdin, stdout and stderr (-1: this process's own). */
  stdio?: { stdin: number; stdout: number; stderr: number };
  /** Pass this process's SIGINT, SIGTERM, … on to the sandbox (the CLI; default false). */
  forwardSignals?: boolean;
  report: Report;
}

/** How a sandbox ended: the same shape for success and every failure. */
export interface SandboxResult {
  /** The payload's status; 128+N when it died of signal N; 124 when the timeout killed it; 125/126/127 when nsbox failed. */
  exitCode: number;
  /** The signal that ended it, if one did ("SIGKILL" after a timeout or an abort). */
  signal: NodeJS.Signals | null;
  /** The sandbox was killed because the timeout ran out. */
  timedOut: boolean;
  /** The sandbox was killed because the AbortSignal was aborted. */
  aborted: boolean;
  /** Every warning and note reported during the run, in order. */
  warnings: string[];
  /** nsbox's own failure inside the sandbox (a setup step refused, NOT_FOUND, NOT_EXECUTABLE). */
  error?: NsboxError;
}

/** A launched sandbox: PID 1, a way to signal it, and how it ends. */
export interface Launched {
  /** The host pid of the sandbox's PID 1. */
  pid: number;
  /** Send signal `sig` to PID 1; false once it has been reaped (its pid may be another's). */
  kill(sig: number): boolean;
  /** Settles (never rejects for the payload's or nsbox's failure) once PID 1 is reaped and everything is released. */
  result: Promise<SandboxResult>;
}

/** setTimeout's longest wait: Bun (like Node) fires a longer one at once. */
const MAX_TIMER = 2 ** 31 - 1;

/** Call `fire` after `ms` milliseconds, however long (longer waits are chained); returns the cancel. */
export function after(ms: number, fire: () => void): () => void {
  let timer: Timer;
  const arm = (left: number) => {
    timer = left > MAX_TIMER ? setTimeout(() => arm(left - MAX_TIMER), MAX_TIMER) : setTimeout(fire, left);
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/**
 * Start the sandbox `plan` describes: PID 1 runs when this returns. Throws NsboxError for what
 * fails before it exists (the name taken, --net-log refused, the kernel refusing the clone);
 * everything after is in `result`. No callback of nsbox's side (steps, proxy, net log, the
 * report) can end the run: a throw there is reported in one line and the sandbox goes on.
 *
 * @example
 *   const s = launch(buildPlan(["true"], {}, readHost(), { terminal: null }), { report: (_, l) => console.error(l) });
 *   const { exitCode, timedOut, warnings } = await s.result;
 */
export function launch(plan: Plan, settings: LaunchSettings): Launched {
  const options = settings.options ?? {};
  const verbose = options.verbose === true;
  const timeout = options.timeout;
  if (timeout !== undefined && !(typeof timeout === "number" && timeout >= 1 && Number.isFinite(timeout))) {
    throw new NsboxError("BAD_OPTION", `timeout: expected at least 1 millisecond, got ${String(timeout)}`, { option: "timeout" });
  }
  // Said before anything is started or loaded for the network: a module read under too few
  // descriptors makes Bun print its own error first.
  if ((openFileLimit() ?? Infinity) < FDS_NEEDED) throw tooFewDescriptors();
  const warnings: string[] = [];
  let reportFailed = false;
  const report: Report = (level, line) => {
    if (level !== "debug") warnings.push(line);
    try {
      settings.report(level, line);
    } catch (e) {
      if (reportFailed) return;
      reportFailed = true;
      try {
        settings.report("warn", `showing nsbox's messages failed (${e instanceof Error ? e.message : String(e)}); the sandbox goes on`);
      } catch {}
    }
  };

  // What killed runs left behind: before this run makes its own (its plan's are in use).
  for (const line of sweepWorkDirs(plan.cleanup)) report("warn", line);
  for (const note of plan.notes) report("note", note);
  if (verbose && plan.droppedEnv.length) report("debug", `dropped from the environment: ${plan.droppedEnv.join(" ")}`);
  if (verbose && plan.netMode) report("debug", `network: ${(require("./net/mode.ts") as typeof import("./net/mode.ts")).describeNetMode(plan.netMode)}`);

  let registration: import("./registry.ts").Registration | undefined;
  let net: import("./net/session.ts").NetSession | undefined;
  let running: ReturnType<typeof start>;
  /** Releases what the Unix-socket policy holds (the allowed sockets), once the sandbox has ended. */
  let unixDone: (() => void) | undefined;
  try {
    // nsbox ps/inspect/exec/stop find it by name while it runs. A --name is claimed before
    // anything starts (a second run of the same name: 125, nothing run); a generated name cannot
    // be refused, so it is claimed right after the clone (onStart below), while PID 1 sets up on
    // the other core: PID 1 is listed, with its pid, from the moment the registration exists.
    const registry = settings.register ? (require("./registry.ts") as typeof import("./registry.ts")) : undefined;
    if (registry && options.name !== undefined) registration = registry.registerRun(options, plan);
    // The proxy (--net allow=), transparent egress, and the resolver (its own network: allow= and none).
    if (plan.proxy || plan.egress || plan.ops.some((o) => o.op === "LISTEN_TCP" && o.udp)) {
      const { netSession } = require("./net/session.ts") as typeof import("./net/session.ts");
      net = netSession(plan.egress?.rules ?? plan.proxy?.rules ?? [], {
        mode: plan.egress?.mode ?? (plan.proxy ? "allow" : "none"),
        transparent: plan.egress !== undefined,
        allowSockets: plan.egress?.allowSockets,
        logFile: plan.proxy ? options.netLog : undefined,
        logNamed: options.netLog === undefined ? undefined : logNamed(options),
        live: verbose ? (line) => report("note", line) : undefined,
        warn: (line) => report("warn", line),
      });
    }
    running = start(plan, {
      stdio: settings.stdio,
      verbose,
      forwardSignals: settings.forwardSignals ?? false,
      onListen: net?.onListen,
      // Transparent mode: the session decides the payload's connections (src/net/session.ts
      // onNotify); until it can, only destinations inside the sandbox (src/net/unotify.ts insideOnly).
      onNotify: plan.egress ? (listener) => void (unixDone = serveEgress(net, listener, plan, report)) : undefined,
      onNoListener: net?.onNoListener,
      // At once, before anything else: nsbox ps and exec may look for the pid as soon as the payload runs.
      onStart: (pid) => {
        if (registration || !registry) return void registration?.started(pid);
        try {
          registration = registry.registerRun(options, plan, undefined, pid);
        } catch (e) {
          // The sandbox runs already: it goes on, unlisted.
          report("warn", `listing the sandbox for nsbox ps failed (${e instanceof Error ? e.message : String(e)}); the sandbox goes on`);
        }
      },
      onStep: verbose ? (i) => report("debug", `[${i}] ${plan.ops[i]!.op.toLowerCase()}: ${plan.ops[i]!.why.what}`) : undefined,
      warn: (line) => report("warn", line),
    });
  } catch (e) {
    net?.finish();
    registration?.release();
    // A module nsbox could not read for want of a descriptor (the network session's) is the same want as the sandbox's own.
    if (!(e instanceof NsboxError) && /\bEMFILE\b/.test(e instanceof Error ? e.message : "")) throw tooFewDescriptors();
    throw e;
  }

  // timeout and abort: SIGKILL to PID 1 ends its PID namespace, so every process in the sandbox.
  const sent = { timeout: false, abort: false };
  const sigkill = constants.signals.SIGKILL;
  const cancel = timeout === undefined ? undefined : after(timeout, () => (sent.timeout = running.kill(sigkill)));
  const onAbort = () => (sent.abort = running.kill(sigkill));
  if (settings.signal?.aborted) onAbort();
  else settings.signal?.addEventListener("abort", onAbort, { once: true });

  const result = running.outcome
    .catch((e): Outcome => {
      // A failure of nsbox's own side after PID 1 was reaped: reported, never the payload's end.
      const error = e instanceof NsboxError ? e : outOfDescriptors(e) ? tooFewDescriptors(e) : new NsboxError("INTERNAL", `supervising the sandbox failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      return { exitCode: error.exitCode, signal: null, error };
    })
    .then((outcome): SandboxResult => {
      cancel?.();
      settings.signal?.removeEventListener("abort", onAbort);
      let blocked: string[] = [];
      try {
        blocked = net?.finish() ?? [];
      } catch (e) {
        report("warn", `stopping the network proxy failed (${e instanceof Error ? e.message : String(e)})`);
      }
      unixDone?.();
      try {
        registration?.release();
      } catch {}
      for (const line of blocked) report("note", line);
      // --net none: a command that failed after looking names up is told why, once (src/net/names.ts).
      const asked = net && plan.net.mode === "none" && outcome.exitCode !== 0 ? net.asked() : [];
      if (asked.length) {
        const note = (require("./net/names.ts") as typeof import("./net/names.ts")).offlineNote(asked);
        if (note) report("note", note);
      }
      for (const line of outcome.warnings ?? []) report("warn", line);
      // Killed by us only if PID 1 really died of it: a payload that exited just before keeps its own status.
      const byUs = outcome.signal === "SIGKILL" && !outcome.error;
      const timedOut = sent.timeout && byUs;
      const aborted = sent.abort && byUs && !timedOut;
      return {
        exitCode: timedOut ? 124 : outcome.exitCode,
        signal: outcome.signal,
        timedOut,
        aborted,
        warnings,
        ...(outcome.error ? { error: outcome.error } : {}),
      };
    });
  return { pid: running.pid, kill: running.kill, result };
}
