// Run a plan: start the executor, follow its reports, forward signals, relay the terminal, build the result.
import { NsboxError } from "./errors.ts";
import { closeFd, killPid, pipe, receiveFd, socketPair, spawnPlan, waitPid } from "./executor.ts";
import { explainClone, explainStep } from "./explain.ts";
import { encodePlan } from "./ops.ts";
import { FORWARDED_SIGNALS, type Plan } from "./plan/index.ts";
import { constants } from "node:os";

/** How a sandbox ended. `exitCode` follows the CLI's rules (125/126/127, status, 128+N). */
export interface Outcome {
  exitCode: number;
  /** The signal that killed the payload, if one did. */
  signal: NodeJS.Signals | null;
  /** nsbox's own failure (setup refused, command not found…), if any. */
  error?: NsboxError;
}

export interface SuperviseHooks {
  /** Called as each setup step starts (verbose mode). */
  onStep?: (index: number) => void;
  /** Called with the host pid of the sandbox's PID 1 once it runs. */
  onStart?: (pid: number) => void;
  /** Called with the listening socket the sandbox made for the network proxy (the callee owns it). */
  onListen?: (fd: number) => void;
  stdio?: { stdin: number; stdout: number; stderr: number };
  verbose?: boolean;
}

const REPORT = { STEP: 1, FAIL: 2, STARTED: 3, EXIT: 4, PTY: 5, LISTEN: 6 };
const RECORD = 16;

const signalName = (n: number) =>
  (Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? `SIG${n}`) as NodeJS.Signals;

/** Start the sandbox described by `plan` and wait for it to end. Never throws for the payload's own failure. */
export async function supervise(plan: Plan, hooks: SuperviseHooks = {}): Promise<Outcome> {
  const [reportRead, reportWrite] = pipe();
  // The control socket carries descriptors out of the sandbox: its pty master, the proxy's socket.
  const [controlParent, controlChild] = plan.terminal || plan.proxy ? socketPair() : [-1, -1];
  const encoded = encodePlan(plan.ops, plan.cloneFlags, hooks.verbose ?? false);
  const stdio = hooks.stdio ?? { stdin: -1, stdout: -1, stderr: -1 };
  // Signals sent to nsbox go to the sandbox's PID 1, which passes them to the payload. The
  // handlers are in place before the clone, so that none of them can kill nsbox in between;
  // what arrives before the pid is known is sent as soon as it is.
  let pid = 0;
  const early: NodeJS.Signals[] = [];
  const forward = (sig: NodeJS.Signals) => (pid > 0 ? killPid(pid, constants.signals[sig]) : early.push(sig));
  const forwarded = FORWARDED_SIGNALS.filter((s) => !(plan.terminal && s === "SIGWINCH"));
  for (const s of forwarded) process.on(s, forward);
  pid = spawnPlan(encoded, { report: reportWrite, control: controlChild, ...stdio });
  closeFd(reportWrite);
  if (controlChild >= 0) closeFd(controlChild);
  if (pid < 0) {
    for (const s of forwarded) process.off(s, forward);
    closeFd(reportRead);
    if (controlParent >= 0) closeFd(controlParent);
    const error = explainClone(-pid);
    return { exitCode: error.exitCode, signal: null, error };
  }
  for (const s of early) forward(s);
  hooks.onStart?.(pid);

  let failure: { index: number; errno: number } | undefined;
  let status: number | undefined;
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
        if (kind === REPORT.STEP) hooks.onStep?.(index!);
        else if (kind === REPORT.FAIL) failure ??= { index: index!, errno: value! };
        else if (kind === REPORT.EXIT) status = value;
        else if (kind === REPORT.PTY) {
          const master = receiveFd(controlParent);
          if (master >= 0) (relay = new (await import("./terminal.ts")).TerminalRelay(master)).start();
        } else if (kind === REPORT.LISTEN) {
          const listener = receiveFd(controlParent);
          if (listener >= 0) hooks.onListen?.(listener);
        }
      }
      pending = data.slice(at);
    }
  } finally {
    // End-of-file: PID 1 has exited (or is about to); reap it.
    const initStatus = waitPid(pid);
    for (const s of forwarded) process.off(s, forward);
    closeFd(reportRead);
    if (controlParent >= 0) closeFd(controlParent);
    await relay?.finish();
    status ??= initStatus;
  }

  if (failure) {
    const error = explainStep(plan.ops[failure.index], failure.errno, plan.command[0]!);
    return { exitCode: error.exitCode, signal: null, error };
  }
  return statusOutcome(status!);
}

/** Decode a wait status: exit code, or 128+N for death by signal N. */
export function statusOutcome(status: number): Outcome {
  const sig = status & 0x7f;
  if (sig === 0) return { exitCode: (status >> 8) & 0xff, signal: null };
  return { exitCode: 128 + sig, signal: signalName(sig) };
}
