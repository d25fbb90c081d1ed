#!/usr/bin/env -S bun --no-env-file --config=/dev/null
// The nsbox command line: arguments → SandboxOptions (profile, then options in order) → the
// same plan and run the library uses.
import { writeSync } from "node:fs";
import pkg from "../package.json" with { type: "json" };
import { argsOf, editDistance, HELP, parseArgv, realArgv, usageLine, type CommandDef, type Given } from "./cli-args.ts";
import { outOfDescriptors, tooFewDescriptors } from "./errno.ts";
import { badOption, NsboxError } from "./errors.ts";
import { refuseCwdConfig } from "./launch.ts";
import { log, printable } from "./log.ts";
import { SANDBOX_OPTIONS } from "./options/defs.ts";
import type { SandboxOptions } from "./options.ts";
import type { Plan } from "./plan/index.ts";
import { formatDuration } from "./options/duration.ts";
import type { SandboxResult } from "./sandbox.ts";

/**
 * What a run needs beyond the argument parser (the options, the plan, the executor, the
 * supervisor), loaded when a run starts, in one go before anything else of it: --version,
 * --help and the subcommands start without them (the subcommands load their own).
 */
async function runModules() {
  const { prepareExecutor, exitNow } = await import("./executor.ts");
  const { readHost } = await import("./host.ts");
  const { buildPlan } = await import("./plan/index.ts");
  const { launch } = await import("./sandbox.ts");
  const { normalizeCommandLine } = await import("./options/sources.ts");
  const { userTerminal } = await import("./terminal.ts");
  return { prepareExecutor, exitNow, readHost, buildPlan, launch, normalizeCommandLine, userTerminal };
}

/** Subcommands, loaded only when used. */
const SUBCOMMANDS: Record<string, () => Promise<CommandDef>> = {
  profile: () => import("./commands/profile.ts").then((m) => m.default),
  doctor: () => import("./commands/doctor.ts").then((m) => m.default),
  ps: () => import("./commands/ps.ts").then((m) => m.default),
  inspect: () => import("./commands/inspect.ts").then((m) => m.default),
  stop: () => import("./commands/stop.ts").then((m) => m.default),
  exec: () => import("./commands/exec.ts").then((m) => m.default),
  trust: () => import("./commands/trust.ts").then((m) => m.default),
  untrust: () => import("./commands/trust.ts").then((m) => m.untrust),
  help: async () => HELP_COMMAND,
};

/** nsbox itself: its own options, then the sandbox options; the first non-option starts the command. */
const NSBOX: CommandDef = {
  meta: { name: "nsbox", description: "Run a command in a rootless Linux sandbox." },
  args: {
    profile: { type: "string", alias: "p", valueHint: "NAME", description: "Start from a profile: default, test, install, shell, or one in nsbox.json / package.json#nsbox" },
    "dry-run": { type: "boolean", description: "Print the plan (every mount, in order) instead of running" },
    json: { type: "boolean", description: "With --dry-run: print the plan as JSON" },
    version: { type: "boolean", alias: "V", description: "Print the version" },
    help: HELP,
    ...SANDBOX_OPTIONS,
  },
  command: { valueHint: "command [args…]", description: "The command to run inside, and its arguments (a name is looked up on PATH)" },
  subCommands: SUBCOMMANDS,
};

/** nsbox help [COMMAND…]: the same text as --help. */
const HELP_COMMAND: CommandDef = {
  meta: { name: "help", description: "Describe nsbox, or one of its commands" },
  args: { command: { type: "positional", valueHint: "COMMAND", repeatable: true, description: "The command to describe (profile show, exec, …)" }, help: HELP },
};

/** The help of a command (`path` its words: ["nsbox", "exec"]), generated from the definitions; loaded only for --help. */
async function help(cmd: CommandDef, path: string[]): Promise<number> {
  const { helpWidth, renderHelp } = await import("./help.ts");
  let subs: Record<string, CommandDef> | undefined;
  if (cmd.subCommands) {
    subs = {};
    for (const [name, load] of Object.entries(cmd.subCommands)) {
      const sub = await load();
      if (!sub.subCommands) subs[name] = sub;
      else for (const [leaf, loadLeaf] of Object.entries(sub.subCommands)) subs[`${name} ${leaf}`] = await loadLeaf();
    }
  }
  const groups = cmd === NSBOX ? Object.fromEntries(Object.keys(SANDBOX_OPTIONS).map((name) => [name, "Sandbox options"])) : undefined;
  print(1, renderHelp(cmd, path.join(" "), { subs, groups, width: helpWidth(process.stdout.isTTY ? process.stdout.columns : process.stderr.isTTY ? process.stderr.columns : undefined) }));
  return 0;
}

/** `nsbox` alone: the short usage on stderr (fitted to the terminal there), and 125 as for any mistake. */
async function shortUsage(): Promise<number> {
  const { helpWidth, shortUsage } = await import("./help.ts");
  print(2, shortUsage(NSBOX, "nsbox", helpWidth(process.stderr.isTTY ? process.stderr.columns : undefined)));
  return 125;
}

/** A subcommand's sandbox options (exec's --env, --chdir, -v): the same definitions, no profile and no project config. */
function subcommandOptions(given: Given[]): SandboxOptions {
  const { applyCommandLine, finish } = require("./options/normalize.ts") as typeof import("./options/normalize.ts");
  const options: SandboxOptions = {};
  applyCommandLine(options, given);
  return finish(options);
}

/**
 * Write `text` to descriptor `fd` (1 or 2) with write(2): process.stdout and process.stderr load
 * node:stream, which costs more than the rest of `nsbox --version`. When write(2) fails (a
 * descriptor left non-blocking by whoever started nsbox, a reader that went away), the rest goes
 * through the stream as before, which waits or ends quietly.
 */
function print(fd: 1 | 2, text: string): void {
  let rest = Buffer.from(text);
  try {
    while (rest.length > 0) rest = rest.subarray(writeSync(fd, rest));
  } catch {
    (fd === 1 ? process.stdout : process.stderr).write(rest);
  }
}

const warn = (m: string) => void log.warn(m);
const sandboxOnly = (given: Given[]) => given.filter((g) => Object.hasOwn(SANDBOX_OPTIONS, g.name));

/**
 * Run subcommand `cmd` (its words so far in `path`) with `argv`; `outer` are the options given
 * before its name, each of which must be one of its own.
 */
async function dispatch(cmd: CommandDef, path: string[], argv: string[], outer: Given[]): Promise<number> {
  const where = path.join(" ");
  for (const g of outer) {
    if (!Object.hasOwn(cmd.args, g.name) || cmd.args[g.name]!.type === "positional") {
      throw new NsboxError("BAD_OPTION", `${g.flag} does not apply to ${where} (see ${where} --help)`, { option: g.flag });
    }
  }
  const parsed = parseArgv(argv, cmd, where, outer);
  const wantsHelp = parsed.given.some((g) => g.name === "help");
  if (cmd === HELP_COMMAND && !wantsHelp) return helpFor(parsed.positionals);
  if (cmd.subCommands) {
    const name = parsed.command[0];
    const sub = name !== undefined && Object.hasOwn(cmd.subCommands, name) ? cmd.subCommands[name]! : undefined;
    if (!sub && wantsHelp) return help(cmd, path);
    if (!sub) {
      const usages = await Promise.all(Object.entries(cmd.subCommands).map(async ([n, load]) => `usage: ${usageLine(await load(), `${where} ${n}`)}`));
      throw new NsboxError("BAD_OPTION", `${where}: ${name === undefined ? "which command?" : `no command '${name}'`} (${usages.join("; ")})`);
    }
    return dispatch(await sub(), [...path, name!], parsed.command.slice(1), parsed.given);
  }
  if (wantsHelp) return help(cmd, path);
  const args = argsOf(cmd, where, parsed);
  return cmd.run!({ args, given: parsed.given, command: parsed.command, options: () => subcommandOptions(sandboxOnly(parsed.given)) });
}

/** nsbox help [COMMAND…]. */
async function helpFor(words: string[]): Promise<number> {
  let cmd = NSBOX;
  const path = ["nsbox"];
  for (const word of words) {
    const load = cmd.subCommands && Object.hasOwn(cmd.subCommands, word) ? cmd.subCommands[word] : undefined;
    if (!load) throw new NsboxError("BAD_OPTION", `nsbox help: no command '${[...path.slice(1), word].join(" ")}' (nsbox --help lists them)`);
    cmd = await load();
    path.push(word);
  }
  return help(cmd, path);
}

/** "did you mean nsbox ps?" for a command that was not found and is one typo from a subcommand. */
function didYouMean(e: unknown, name: string | undefined, rest: string[] = []): unknown {
  if (!(e instanceof NsboxError) || e.code !== "NOT_FOUND" || !name || name.includes("/")) return e;
  // docker's and podman's verb: nsbox runs a command without one.
  if (name === "run") {
    const args = rest[0] === "--" ? rest.slice(1) : rest;
    return new NsboxError(e.code, `${e.message} (nsbox has no run verb: nsbox -- ${args.length ? args.join(" ") : "COMMAND"})`, { path: e.path, errno: e.errno, hint: e.hint, cause: e });
  }
  const near = Object.keys(SUBCOMMANDS).find((sub) => editDistance(name, sub) <= 2 && editDistance(name, sub) < sub.length);
  if (!near) return e;
  return new NsboxError(e.code, `${e.message} (did you mean nsbox ${near}?)`, { path: e.path, errno: e.errno, hint: e.hint, cause: e });
}

async function main(argv: string[]): Promise<number> {
  refuseCwdConfig();
  if (argv.length === 0) return shortUsage();
  const top = parseArgv(argv, NSBOX, "nsbox");
  const { given, command } = top;
  const flag = (name: string) => given.find((g) => g.name === name)?.value;
  // A subcommand is only recognised before `--`: `nsbox -- profile` runs a program named profile,
  // while `nsbox exec NAME -- cmd` is the exec subcommand.
  const sub = !top.terminated && command.length && Object.hasOwn(SUBCOMMANDS, command[0]!) ? command[0]! : undefined;
  if (sub !== undefined) return dispatch(await SUBCOMMANDS[sub]!(), ["nsbox", sub], command.slice(1), given);
  if (flag("help")) return help(NSBOX, ["nsbox"]);
  if (flag("version")) {
    print(1, `${pkg.version}\n`);
    return 0;
  }
  const dryRun = flag("dry-run") === true;
  if (flag("json") && !dryRun) throw badOption("--json", "prints the plan, so only with --dry-run (nsbox --dry-run --json -- command)");
  try {
    return await runSandbox(given, command, dryRun);
  } catch (e) {
    throw top.terminated ? e : didYouMean(e, command[0], command.slice(1));
  }
}

/** Run `command` in a sandbox with the options given (or print its plan). */
async function runSandbox(given: Given[], command: string[], dryRun: boolean): Promise<number> {
  const { prepareExecutor, exitNow, readHost, buildPlan, launch, normalizeCommandLine, userTerminal } = await runModules();
  const profile = given.find((g) => g.name === "profile");
  // The sandbox options: the profile's (when one is named), then each option in the order given
  // (`--ro a --tmpfs b --ro c` apply in that order); a profile that is not there is named as
  // typed (`-p ci`, or `--profile ci`). The project's nsbox.json is always checked; its
  // package.json only for a profile, so that a package.json npm would refuse does not stop
  // plain runs. A project profile that loosens the sandbox needs `nsbox trust` (src/trust.ts).
  const options = normalizeCommandLine(sandboxOnly(given), profile?.value as string | undefined, process.cwd(), warn, profile?.flag);
  if (options.verbose) {
    log.setLevel(4);
    await log.flush(); // load consola now, so step messages print as the steps run
  }
  if (!dryRun) prepareExecutor();
  const plan = buildPlan(command, options, readHost(), { terminal: dryRun ? null : userTerminal() });
  if (dryRun) {
    const { planJson, planText } = await import("./dry-run.ts");
    print(1, given.some((g) => g.name === "json") ? JSON.stringify(planJson(plan), null, 2) + "\n" : planText(plan));
    return 0;
  }
  exit = exitNow;
  return runPlan(plan, options, launch);
}

/**
 * Run the plan as the CLI does (registered for nsbox ps, signals forwarded, notes as warnings)
 * and map its result to the exit status: the payload's, 128+N for signal N, 124 after
 * --timeout, nsbox's own failure thrown (125/126/127).
 */
async function runPlan(plan: Plan, options: SandboxOptions, launch: typeof import("./sandbox.ts").launch): Promise<number> {
  // Nothing on nsbox's side of a running sandbox may end it: what escapes is said, and it goes on.
  const stray = (e: unknown) => void log.error(`internal error: ${e instanceof Error ? e.message : String(e)} (please report it); the sandbox goes on`);
  process.on("uncaughtException", stray);
  process.on("unhandledRejection", stray);
  let result: SandboxResult;
  try {
    result = await launch(plan, {
      options,
      register: true,
      forwardSignals: true,
      report: (level, line) => void (level === "debug" ? log.debug(line) : log.warn(line)),
    }).result;
  } finally {
    process.off("uncaughtException", stray);
    process.off("unhandledRejection", stray);
  }
  ranSandbox = true;
  if (result.error) throw result.error;
  if (result.timedOut) await log.error(`timed out after ${formatDuration(options.timeout!)} (--timeout): the sandbox was killed`);
  // Ctrl-C reaches the payload through the sandbox's pty, not nsbox: a shell running nsbox sees no
  // SIGINT of its own, and ends a loop or script only when its child died of SIGINT (bash's
  // wait-and-cooperative-exit). So nsbox dies of it too, as a transparent wrapper does (sudo).
  else if (result.signal === "SIGINT") diesBy = "SIGINT";
  return result.exitCode;
}

const writeLine = (line: string): boolean => {
  try {
    writeSync(2, `nsbox: ${printable(line)}\n`);
    return true;
  } catch {
    return false;
  }
};


/**
 * An error as the user reads it: one line, the message and then the fix. The one exception is the
 * list of what an untrusted config would loosen (src/trust.ts), one escaped item a line.
 */
function errorLines(e: NsboxError): string[] {
  const [first = "", ...items] = e.code === "UNTRUSTED_CONFIG" ? e.message.split("\n") : [e.message];
  const head = printable(first) + (e.hint ? `; ${printable(e.hint)}` : "");
  return e.code === "UNTRUSTED_CONFIG" && items.length ? [printable(first), ...items.map(printable), printable(e.hint ?? "")].filter(Boolean) : [head];
}

async function report(e: unknown): Promise<number> {
  // Out of descriptors wherever it showed (Bun's own calls throw plain errors): the one message.
  if (!(e instanceof NsboxError) && outOfDescriptors(e)) e = tooFewDescriptors(e);
  // Written straight to descriptor 2: process.stderr would need a descriptor of its own.
  if (e instanceof NsboxError && outOfDescriptors(e.errno)) return writeLine(e.message) ? e.exitCode : (await log.error(e.message), e.exitCode);
  if (e instanceof NsboxError) {
    for (const line of errorLines(e)) await log.error(line);
    return e.exitCode;
  }
  await log.error(`internal error: ${e instanceof Error ? e.message : String(e)} (please report it)`);
  if (process.env.NSBOX_DEBUG) console.error(e);
  return 125;
}

/** Set when the payload died of a signal nsbox passes on by dying of it too (runPlan). */
let diesBy: NodeJS.Signals | undefined;
/** Set once runPlan has run a sandbox: nsbox then exits without Bun's terminal restore. */
let ranSandbox = false;
/** The executor's exit, once a run has loaded it. */
let exit: ((status: number) => never) | undefined;

/** Run the CLI with these arguments and exit with its status. */
export function runCli(argv: string[]): void {
  main(argv)
    .catch(report)
    .then(async (code) => {
      await log.flush();
      if (diesBy) {
        // The status the shell sees is the same 128+N; failing that, exit with it.
        process.removeAllListeners(diesBy);
        process.kill(process.pid, diesBy);
        await Bun.sleep(100);
      }
      // After a sandbox ran, the terminal is as the relay left it (the user's mode given back).
      // Bun's own exit would set each terminal of fds 0-2 to the mode it saw at its start: under
      // `make -j`, another nsbox's raw mode, which then outlived both and left the shell raw.
      if (ranSandbox && exit) exit(code);
      process.exit(code);
    });
}

if (import.meta.main) runCli(realArgv());
