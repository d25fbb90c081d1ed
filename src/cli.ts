#!/usr/bin/env bun
// The nsbox command line: arguments → SandboxOptions → the same plan and run the library uses.
import type { ArgsDef } from "citty";
import pkg from "../package.json" with { type: "json" };
import { parseCommandLine } from "./cli-args.ts";
import { badOption, NsboxError } from "./errors.ts";
import { prepareExecutor, terminalSize } from "./executor.ts";
import { readHost } from "./host.ts";
import type { SandboxOptions } from "./options.ts";
import { log } from "./log.ts";
import { buildPlan } from "./plan/index.ts";
import { supervise } from "./supervise.ts";

const args = {
  uid: { type: "string", valueHint: "N", description: "User id inside the sandbox (default 0: root inside, you outside)" },
  gid: { type: "string", valueHint: "N", description: "Group id inside the sandbox (default 0)" },
  hostname: { type: "string", valueHint: "NAME", description: "Host name inside (default nsbox)" },
  propagation: { type: "string", valueHint: "private|slave", description: "Mount propagation from the host (default private)" },
  env: { type: "string", valueHint: "NAME=VALUE", description: "Set a variable inside (repeatable)" },
  "keep-env": { type: "string", valueHint: "NAME", description: "Keep a variable that looks like a secret (repeatable)" },
  "clear-env": { type: "boolean", description: "Start from an empty environment (PATH, HOME, PWD, TERM kept)" },
  verbose: { type: "boolean", alias: "v", description: "Print each setup step as it runs" },
  version: { type: "boolean", alias: "V", description: "Print the version" },
  help: { type: "boolean", alias: "h", description: "Show this help" },
} as const satisfies ArgsDef;
const REPEATABLE = new Set(["env", "keep-env"]);

/** citty renders the help; it is loaded only for --help, to keep start-up short. */
async function usage(): Promise<string> {
  const { defineCommand, renderUsage } = await import("citty");
  const meta = { name: "nsbox", version: pkg.version, description: "Run a command in a rootless Linux sandbox: nsbox [options] -- command [args…]" };
  return renderUsage(defineCommand({ meta, args }));
}

/** The user's terminal size when stdin and stdout are both terminals: the payload then gets a pty. */
function userTerminal(): { rows: number; cols: number } | null {
  return terminalSize(0) && terminalSize(1);
}

function toId(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw badOption(flag, `expected a whole number, got '${value}'`);
  return Number(value);
}

function toOptions(v: Record<string, string | boolean | string[]>): SandboxOptions {
  const env: Record<string, string> = {};
  for (const pair of (v.env as string[] | undefined) ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw badOption("--env", `expected NAME=VALUE, got '${pair}'`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return {
    uid: toId("--uid", v.uid as string | undefined),
    gid: toId("--gid", v.gid as string | undefined),
    hostname: v.hostname as string | undefined,
    propagation: v.propagation as SandboxOptions["propagation"],
    env,
    keepEnv: v["keep-env"] as string[] | undefined,
    clearEnv: v["clear-env"] === true,
    verbose: v.verbose === true,
  };
}

async function main(argv: string[]): Promise<number> {
  const { values, command: cmd } = parseCommandLine(argv, args, REPEATABLE);
  if (values.help) {
    process.stdout.write((await usage()) + "\n");
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const options = toOptions(values);
  if (options.verbose) {
    log.setLevel(4);
    await log.flush(); // load consola now, so step messages print as the steps run
  }
  prepareExecutor();
  const plan = buildPlan(cmd, options, readHost(), { terminal: userTerminal() });
  for (const note of plan.notes) await log.warn(note);
  if (plan.droppedEnv.length) await log.debug(`dropped from the environment: ${plan.droppedEnv.join(" ")}`);
  const outcome = await supervise(plan, {
    verbose: options.verbose,
    onStep: (i) => void log.debug(`[${i}] ${plan.ops[i]!.op.toLowerCase()}: ${plan.ops[i]!.why.what}`),
  });
  if (outcome.error) throw outcome.error;
  return outcome.exitCode;
}

async function report(e: unknown): Promise<number> {
  if (e instanceof NsboxError) {
    await log.error(e.message);
    if (e.hint) await log.error(e.hint);
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

if (import.meta.main) runCli(process.argv.slice(2));
