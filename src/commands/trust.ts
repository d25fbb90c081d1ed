// nsbox trust [FILE] | --list, nsbox untrust [FILE]: the user's consent to a project config file's content.
import { loadConfigFile, loadProjectConfig, type ProjectConfig } from "../config.ts";
import { NsboxError } from "../errors.ts";
import { loosenings } from "../loosening.ts";
import { configDir, looseningLine, realHome, readTrust, shellWord, trustArgument, writeTrust } from "../trust.ts";
import { HELP, type CommandDef } from "../cli-args.ts";

/** FILE as given, or the config of the project the current directory is in. */
function target(file: string | undefined): ProjectConfig {
  if (file !== undefined) return loadConfigFile(file);
  const config = loadProjectConfig(process.cwd(), true, (m) => {
    throw new NsboxError("UNTRUSTED_CONFIG", m);
  });
  if (!config) throw new NsboxError("PATH_NOT_FOUND", "no nsbox.json or package.json#nsbox here or above: name the file", { hint: "usage: nsbox trust FILE" });
  return config;
}

function list(json: boolean): number {
  const rows = Object.entries(readTrust((m) => process.stderr.write(`nsbox: ${m}\n`))).map(([file, entry]) => {
    let state: string;
    try {
      state = loadConfigFile(trustArgument(file)).sha256 === entry.sha256 ? "trusted" : "changed since (untrusted)";
    } catch (e) {
      state = e instanceof NsboxError ? `unusable: ${e.message}` : String(e);
    }
    return { file, state, sha256: entry.sha256, trusted: entry.trusted };
  });
  if (json) process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
  else if (rows.length === 0) process.stdout.write("nothing trusted (nsbox trust [FILE] trusts a project's nsbox.json as it is now)\n");
  else for (const r of rows) process.stdout.write(`${r.file}  ${r.state}  (since ${r.trusted})\n`);
  return 0;
}

function trust({ args }: { args: Record<string, unknown> }): number {
  if (args.list === true) {
    if (args.file !== undefined) throw new NsboxError("BAD_OPTION", `--list: lists every trusted file, so takes no FILE (got '${args.file}')`, { option: "--list" });
    return list(args.json === true);
  }
  if (args.json === true) throw new NsboxError("BAD_OPTION", "--json: only with --list (nsbox trust --list --json)", { option: "--json" });
  const config = target(args.file as string | undefined);
  // Where the runs start that the user trusts it for: a built-in's relative paths lead from there (loosening.ts undone).
  const place = { root: config.root, home: realHome(), cwd: process.cwd() };
  const lines = [...new Set(Object.keys(config.profiles).flatMap((name) => loosenings(name, config.profiles, config.file, place).map(looseningLine)))];
  const files = readTrust((m) => process.stderr.write(`nsbox: ${m}\n`));
  files[config.file] = { sha256: config.sha256, trusted: new Date().toISOString(), loosens: lines };
  writeTrust(files);
  process.stdout.write(
    `trusted ${config.file} as it is now (sha256 ${config.sha256.slice(0, 16)}…); any change untrusts it.\n` +
      (lines.length ? `Its profiles may now loosen the sandbox:\n${lines.map((l) => `  ${l}`).join("\n")}\n` : "It loosens nothing (no trust was needed).\n") +
      `Recorded in ${configDir()}/trusted.json; \`nsbox untrust ${shellWord(trustArgument(config.file))}\` withdraws it.\n`,
  );
  return 0;
}

function untrustFile({ args }: { args: Record<string, unknown> }): number {
  const positional = args.file === undefined ? [] : [args.file as string];
  // The file may be gone or changed: find its entry by its real path without parsing it.
  let key: string;
  try {
    key = target(positional[0]).file;
  } catch (e) {
    if (positional[0] === undefined) throw e;
    const { realpathSync } = require("node:fs") as typeof import("node:fs");
    const { basename, dirname, join, resolve } = require("node:path") as typeof import("node:path");
    let dir = dirname(resolve(positional[0]));
    try {
      dir = realpathSync(dir);
    } catch {}
    key = join(dir, basename(positional[0]));
    if (basename(key) === "package.json") key += "#nsbox";
  }
  const files = readTrust((m) => process.stderr.write(`nsbox: ${m}\n`));
  if (!Object.hasOwn(files, key)) throw new NsboxError("BAD_OPTION", `${key} is not trusted (nsbox trust --list shows what is)`, { path: key });
  delete files[key];
  writeTrust(files);
  process.stdout.write(`untrusted ${key}\n`);
  return 0;
}

export default {
  meta: { name: "trust", description: "Let a project's nsbox.json (or package.json#nsbox) loosen the sandbox, as the file is now" },
  args: {
    file: { type: "positional", valueHint: "FILE", description: "The config file (default: the project's, here or above)" },
    list: { type: "boolean", description: "List the trusted files and whether each is unchanged since" },
    json: { type: "boolean", description: "With --list: print JSON" },
    help: HELP,
  },
  run: trust,
} satisfies CommandDef;

export const untrust = {
  meta: { name: "untrust", description: "Withdraw nsbox trust from a config file" },
  args: {
    file: { type: "positional", valueHint: "FILE", description: "The config file (default: the project's, here or above)" },
    help: HELP,
  },
  run: untrustFile,
} satisfies CommandDef;
