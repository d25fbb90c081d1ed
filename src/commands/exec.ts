// nsbox exec [--chdir DIR] [--env NAME=VALUE] NAME -- command [args…]: run another command inside a running sandbox, with the same namespaces, root and restrictions as its own.
import { NsboxError } from "../errors.ts";
import { Errno } from "../errno.ts";
import { prepareExecutor } from "../executor.ts";
import { userTerminal } from "../terminal.ts";
import { readHost } from "../host.ts";
import { log } from "../log.ts";
import { buildJoinPlan } from "../plan/join.ts";
import { checkOwner, findSandbox, provenPayload } from "../registry.ts";
import { launch } from "../sandbox.ts";
import { parseSubArgs } from "./args.ts";

const USAGE = "nsbox exec [--chdir DIR] [--env NAME=VALUE] NAME -- command [args…]";

export async function run(args: string[], outer: Map<string, string | boolean>): Promise<number> {
  const { flags, positional, command } = parseSubArgs(args, {
    chdir: { type: "string" },
    env: { type: "string", repeatable: true },
    verbose: { type: "boolean", alias: "v" },
  }, USAGE, outer, 1);
  const [name] = positional;
  if (!name) throw new NsboxError("BAD_OPTION", `usage: ${USAGE}`);
  const env: Record<string, string> = {};
  for (const pair of (flags.get("env") as string[] | undefined) ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new NsboxError("BAD_OPTION", `--env: expected NAME=VALUE, got '${pair}'`, { option: "--env" });
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const s = findSandbox(name);
  checkOwner(s);
  prepareExecutor();
  // /proc/PID is checked against the pidfd right before the plan names it.
  const payload = provenPayload(s);
  const terminal = userTerminal();
  const chdir = flags.get("chdir") as string | undefined;
  const plan = buildJoinPlan(s, command, readHost(), { terminal, chdir, env }, payload ?? s.pid);
  const verbose = flags.get("verbose") === true;
  if (verbose) {
    log.setLevel(4);
    await log.flush();
  }
  // The same launch as a run's (src/sandbox.ts): not registered, no timeout; signals go to the command.
  let outcome: { exitCode: number; error?: NsboxError };
  try {
    outcome = await launch(plan, {
      options: { verbose },
      forwardSignals: true,
      report: (level, line) => void (level === "debug" ? log.debug(line) : log.warn(line)),
    }).result;
  } catch (e) {
    if (!(e instanceof NsboxError)) throw e;
    outcome = { exitCode: e.exitCode, error: e };
  }
  const e = outcome.error;
  if (e) {
    // Joining is the kernel's decision: it lets only the sandbox's owner in.
    if ((e.errno === Errno.EPERM || e.errno === Errno.EACCES) && / namespace/.test(e.message)) {
      throw new NsboxError("NOT_OWNER", e.message, { path: e.path, errno: e.errno, hint: `only the owner of sandbox ${name} (and root) may join it` });
    }
    if (e.errno === Errno.ENOENT && e.path?.startsWith(`/proc/${s.pid}`)) {
      throw new NsboxError("NOT_RUNNING", `sandbox ${name} ended before the command could join it`);
    }
    throw e;
  }
  return outcome.exitCode;
}
