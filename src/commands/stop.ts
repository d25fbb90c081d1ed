// nsbox stop NAME… [--time N]: SIGTERM to the sandbox's PID 1, which passes it to the command; SIGKILL (the whole sandbox) when it is still running N seconds later (default 10).
import { constants } from "node:os";
import { NsboxError } from "../errors.ts";
import { pidfdRunning, pidfdSignal } from "../executor.ts";
import { findSandbox, type ProvenSandbox } from "../registry.ts";
import { log } from "../log.ts";
import { HELP, type CommandDef } from "../cli-args.ts";

/** Signals go through the pidfd its own nsbox handed over (registry.ts), never to a pid read from a file. */
async function ended(s: ProvenSandbox, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (pidfdRunning(s.pidfd) !== 1) return true;
    if (Date.now() >= end) return false;
    await Bun.sleep(25);
  }
}

/** Stop one sandbox; resolves to how it ended. */
export async function stopSandbox(s: ProvenSandbox, graceMs: number): Promise<"terminated" | "killed"> {
  const signal = (sig: NodeJS.Signals) => void pidfdSignal(s.pidfd, constants.signals[sig]);
  if (graceMs > 0) {
    signal("SIGTERM");
    if (await ended(s, graceMs)) return "terminated";
  }
  // PID 1's death ends its PID namespace: the kernel kills everything left inside.
  signal("SIGKILL");
  if (!(await ended(s, 5000))) throw new NsboxError("KERNEL_REFUSED", `sandbox ${s.name} (pid ${s.pid}) is still running after SIGKILL`);
  return "killed";
}

async function run({ args }: { args: Record<string, unknown> }): Promise<number> {
  const positional = args.sandboxes as string[];
  const time = String(args.time ?? "10");
  if (!/^\d+(\.\d+)?$/.test(time)) throw new NsboxError("BAD_OPTION", `--time ${time === "" ? "''" : time}: must be the seconds to wait before SIGKILL, like 10, 2.5 or 0`, { option: "--time" });
  // Every name is checked before anything is stopped.
  const targets = positional.map((name) => findSandbox(name));
  const graceMs = Number(time) * 1000;
  const results = await Promise.all(targets.map((s) => stopSandbox(s, graceMs)));
  for (const [i, s] of targets.entries()) {
    if (results[i] === "killed" && graceMs > 0) await log.warn(`${s.name} was still running ${time}s after SIGTERM: killed`);
    process.stdout.write(`${s.name}\n`);
  }
  return 0;
}

export default {
  meta: { name: "stop", description: "SIGTERM to each sandbox, then SIGKILL to what still runs after the grace period" },
  args: {
    sandboxes: { type: "positional", valueHint: "NAME", required: true, repeatable: true, description: "The sandboxes' names (nsbox ps lists them)" },
    time: { type: "string", alias: "t", valueHint: "SECONDS", description: "Seconds to wait after SIGTERM before SIGKILL (default 10; 0 kills at once)" },
    help: HELP,
  },
  run,
} satisfies CommandDef;
