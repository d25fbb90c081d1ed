#!/usr/bin/env -S bun --no-env-file --config=/dev/null
// The nsbox command line: arguments → SandboxOptions (profile, then options in order) → the
// same plan and run the library uses.
import pkg from "../package.json" with { type: "json" };
import { parseCommandLine, realArgv, type FlagDef } from "./cli-args.ts";
import { NsboxError } from "./errors.ts";
import { killPid, prepareExecutor, terminalSize } from "./executor.ts";
import { readHost } from "./host.ts";
import { refuseCwdConfig } from "./launch.ts";
import { log } from "./log.ts";
import { SANDBOX_OPTIONS } from "./option-table.ts";
import { normalizeCommandLine } from "./options/sources.ts";
import { buildPlan } from "./plan/index.ts";
import { supervise } from "./supervise.ts";
import { userTerminal } from "./terminal.ts";

/** Options of the command line itself, beside the sandbox options. */
const CLI_FLAGS: Record<string, FlagDef & { description: string }> = {
  profile: { type: "string", alias: "p", valueHint: "NAME", description: "Start from a profile: default, test, install, shell, or one in nsbox.json / package.json#nsbox" },
  "dry-run": { type: "boolean", description: "Print the plan (every mount, in order) instead of running" },
  json: { type: "boolean", description: "With --dry-run or profile show: print JSON" },
  version: { type: "boolean", alias: "V", description: "Print the version" },
  help: { type: "boolean", alias: "h", description: "Show this help" },
};
const FLAGS: Record<string, FlagDef & { description: string }> = { ...SANDBOX_OPTIONS, ...CLI_FLAGS };

/** citty renders the help; it is loaded only for --help, to keep start-up short. */
async function usage(): Promise<string> {
  const { defineCommand, renderUsage } = await import("citty");
  const meta = {
    name: "nsbox",
    version: pkg.version,
    description: "Run a command in a rootless Linux sandbox: nsbox [options] -- command [args…]\n  nsbox profile show NAME [--json]   print a profile's options" +
      "\n  nsbox doctor [--json]              check that nsbox can work here, with fixes" +
      "\n  nsbox ps [--json]                  your running sandboxes (name one with --name NAME)" +
      "\n  nsbox inspect NAME [--json]        its namespaces, id maps, limits and mounts" +
      "\n  nsbox exec NAME -- command         run another command inside it" +
      "\n  nsbox stop NAME [--time 10]        SIGTERM, then SIGKILL after the grace period" +
      "\n  nsbox trust [FILE] | --list        let a project's nsbox.json loosen the sandbox, as it is now" +
      "\n  nsbox untrust [FILE]               withdraw that",
  };
  const args = Object.fromEntries(Object.entries(FLAGS).map(([name, d]) => [name, { type: d.type, alias: d.alias, valueHint: d.valueHint, description: d.description }]));
  return renderUsage(defineCommand({ meta, args }));
}


/** Subcommands, loaded only when used. Each module exports `run(args, flags): Promise<number> | number`. */
const SUBCOMMANDS: Record<string, () => Promise<{ run: (args: string[], flags: Map<string, string | boolean>) => number | Promise<number> }>> = {
  profile: () => import("./commands/profile.ts"),
  doctor: () => import("./commands/doctor.ts"),
  ps: () => import("./commands/ps.ts"),
  inspect: () => import("./commands/inspect.ts"),
  stop: () => import("./commands/stop.ts"),
  exec: () => import("./commands/exec.ts"),
  trust: () => import("./commands/trust.ts"),
  untrust: () => import("./commands/trust.ts").then((m) => ({ run: m.untrust })),
};

async function main(argv: string[]): Promise<number> {
  refuseCwdConfig();
  const { given, command } = parseCommandLine(argv, FLAGS);
  const flag = (name: string) => given.find(([n]) => n === name)?.[1];
  if (flag("help")) {
    const text = await usage();
    // citty colours its help; a pipe or a file gets it plain.
    process.stdout.write((terminalSize(1) ? text : text.replace(/\x1b\[[0-9;]*m/g, "")) + "\n");
    return 0;
  }
  if (flag("version")) {
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  // A subcommand is only recognised before `--`: `nsbox -- profile` runs a program named profile,
  // while `nsbox exec NAME -- cmd` is the exec subcommand.
  const sub = SUBCOMMANDS[command[0] ?? ""];
  if (sub && argv[argv.length - command.length - 1] !== "--") return (await sub()).run(command.slice(1), new Map(given));

  // The profile (a project one that loosens the sandbox needs `nsbox trust`, src/trust.ts), then
  // the options in order: one normalisation pass (src/options/sources.ts).
  const profile = flag("profile");
  const warn = (m: string) => void log.warn(m);
  const cli = given.map(([name, value]) => ({ name, value, flag: `--${name}` }));
  const options = normalizeCommandLine(cli, profile === undefined ? undefined : String(profile), process.cwd(), warn);
  if (options.verbose) {
    log.setLevel(4);
    await log.flush(); // load consola now, so step messages print as the steps run
  }
  const dryRun = flag("dry-run") === true;
  if (!dryRun) prepareExecutor();
  const plan = buildPlan(command, options, readHost(), { terminal: dryRun ? null : userTerminal() });
  if (dryRun) {
    const { planJson, planText } = await import("./dry-run.ts");
    process.stdout.write(flag("json") ? JSON.stringify(planJson(plan), null, 2) + "\n" : planText(plan));
    return 0;
  }
  for (const note of plan.notes) await log.warn(note);
  if (plan.droppedEnv.length) await log.debug(`dropped from the environment: ${plan.droppedEnv.join(" ")}`);
  // nsbox ps/inspect/exec/stop find it by name while it runs (a second run of the same name: 125).
  const registration = (await import("./registry.ts")).registerRun(options, plan);
  let timer: Timer | undefined;
  let timedOut = false;
  const net = plan.proxy && (await import("./net/session.ts")).netSession(plan.proxy.rules, {
    logFile: options.netLog,
    live: options.verbose ? (line) => void log.warn(line) : undefined,
  });
  const outcome = await supervise(plan, {
    onListen: net?.onListen,
    verbose: options.verbose,
    onStep: (i) => void log.debug(`[${i}] ${plan.ops[i]!.op.toLowerCase()}: ${plan.ops[i]!.why.what}`),
    // --timeout: PID 1's death ends the PID namespace, so SIGKILL to it ends the whole sandbox.
    onStart: (pid) => {
      registration.started(pid);
      if (options.timeout) timer = setTimeout(() => ((timedOut = true), killPid(pid, 9)), options.timeout);
    },
  });
  clearTimeout(timer);
  for (const line of net?.finish() ?? []) await log.warn(line);
  for (const line of outcome.warnings ?? []) await log.warn(line);
  if (outcome.error) throw outcome.error;
  if (timedOut) {
    await log.error(`timed out after ${options.timeout! >= 1000 ? `${options.timeout! / 1000}s` : `${options.timeout}ms`} (--timeout): the sandbox was killed`);
    return 124;
  }
  return outcome.exitCode;
}

/** Control characters other than newline and tab, escaped: messages quote the project's text (names, paths). */
const printable = (s: string) => s.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

async function report(e: unknown): Promise<number> {
  if (e instanceof NsboxError) {
    await log.error(printable(e.message));
    if (e.hint) await log.error(printable(e.hint));
    return e.exitCode;
  }
  await log.error(`internal error: ${e instanceof Error ? e.message : String(e)} (please report it)`);
  if (process.env.NSBOX_DEBUG) console.error(e);
  return 125;
}

/** Run the CLI with these arguments and exit with its status. */
export function runCli(argv: string[]): void {
  main(argv)
    .catch(report)
    .then(async (code) => {
      await log.flush();
      process.exit(code);
    });
}

if (import.meta.main) runCli(realArgv());
