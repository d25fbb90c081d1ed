#!/usr/bin/env bun
// The nsbox command line: arguments → SandboxOptions → the same plan and run the library uses.
import { defineCommand, renderUsage } from "citty";
import { createConsola } from "consola";
import pkg from "../package.json" with { type: "json" };
import { parseCommandLine } from "./cli-args.ts";
import { badOption, NsboxError } from "./errors.ts";
import { prepareExecutor } from "./executor.ts";
import { readHost } from "./host.ts";
import type { SandboxOptions } from "./options.ts";
import { buildPlan } from "./plan/index.ts";
import { supervise } from "./supervise.ts";
import { userTerminal } from "./terminal.ts";

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
} as const;
const REPEATABLE = new Set(["env", "keep-env"]);

const command = defineCommand({
  meta: { name: "nsbox", version: pkg.version, description: "Run a command in a rootless Linux sandbox: nsbox [options] -- command [args…]" },
  args,
});

const log = createConsola({
  level: 3,
  reporters: [{ log: (o) => process.stderr.write(`nsbox: ${o.args.map(String).join(" ")}\n`) }],
});

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
    process.stdout.write((await renderUsage(command)) + "\n");
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const options = toOptions(values);
  if (options.verbose) log.level = 4;
  prepareExecutor();
  const plan = buildPlan(cmd, options, readHost(), { terminal: userTerminal() });
  for (const note of plan.notes) log.warn(note);
  if (plan.droppedEnv.length) log.debug(`dropped from the environment: ${plan.droppedEnv.join(" ")}`);
  const outcome = await supervise(plan, {
    verbose: options.verbose,
    onStep: (i) => log.debug(`[${i}] ${plan.ops[i]!.op.toLowerCase()}: ${plan.ops[i]!.why.what}`),
  });
  if (outcome.error) throw outcome.error;
  return outcome.exitCode;
}

function report(e: unknown): number {
  if (e instanceof NsboxError) {
    log.error(e.message);
    if (e.hint) log.error(e.hint);
    return e.exitCode;
  }
  log.error(`internal error: ${e instanceof Error ? e.message : String(e)} (please report it)`);
  if (process.env.NSBOX_DEBUG) console.error(e);
  return 125;
}

/** Run the CLI with these arguments and exit with its status. */
export function runCli(argv: string[]): void {
  main(argv).then((code) => process.exit(code), (e) => process.exit(report(e)));
}

if (import.meta.main) runCli(process.argv.slice(2));
