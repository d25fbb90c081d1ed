// nsbox exec [--chdir DIR] [--env NAME=VALUE]… [-v] NAME [--] command [args…]: run another command inside a running sandbox, with the same namespaces, root and restrictions as its own.
import { NsboxError } from "../errors.ts";
import { Errno } from "../errno.ts";
import { prepareExecutor } from "../executor.ts";
import { userTerminal } from "../terminal.ts";
import { readHost } from "../host.ts";
import { log } from "../log.ts";
import { buildJoinPlan } from "../plan/join.ts";
import { checkOwner, findSandbox, provenPayload } from "../registry.ts";
import { launch } from "../sandbox.ts";
import { HELP, type CommandContext, type CommandDef } from "../cli-args.ts";
import { SANDBOX_OPTIONS } from "../options/defs.ts";

async function run(ctx: CommandContext): Promise<number> {
  const name = ctx.args.sandbox as string;
  const command = ctx.command;
  // --chdir, --env, -v and --pass-fd are the sandbox options' own: the same parse and checks as `nsbox --env …`.
  const options = ctx.options();
  const { chdir, env = {}, verbose = false } = options;
  const s = findSandbox(name);
  checkOwner(s);
  prepareExecutor();
  // /proc/PID is checked against the pidfd right before the plan names it.
  const payload = provenPayload(s);
  const terminal = userTerminal();
  const plan = buildJoinPlan(s, command, readHost(), { terminal, chdir, env, passing: options }, payload ?? s.pid);
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

export default {
  meta: { name: "exec", description: "Run another command inside a running sandbox, with the same namespaces, root and restrictions as its own" },
  args: {
    sandbox: { type: "positional", valueHint: "NAME", required: true, description: "The sandbox's name (nsbox ps lists them)" },
    chdir: SANDBOX_OPTIONS.chdir!,
    env: SANDBOX_OPTIONS.env!,
    verbose: SANDBOX_OPTIONS.verbose!,
    "pass-fd": SANDBOX_OPTIONS["pass-fd"]!,
    help: HELP,
  },
  command: { valueHint: "command [args…]", description: "The command to run, and its arguments" },
  run,
} satisfies CommandDef;
