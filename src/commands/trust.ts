// nsbox trust [FILE] | --list, nsbox untrust [FILE]: the user's consent to a project config file's content.
import { loadConfigFile, loadProjectConfig, type ProjectConfig } from "../config.ts";
import { NsboxError } from "../errors.ts";
import { loosenings } from "../loosening.ts";
import { configDir, looseningLine, realHome, readTrust, shellWord, trustArgument, writeTrust } from "../trust.ts";
import { parseSubArgs } from "./args.ts";

const USAGE = "nsbox trust [FILE] | nsbox trust --list [--json] | nsbox untrust [FILE]";

/** FILE as given, or the config of the project the current directory is in. */
function target(file: string | undefined): ProjectConfig {
  if (file !== undefined) return loadConfigFile(file);
  const config = loadProjectConfig(process.cwd(), true, (m) => {
    throw new NsboxError("UNTRUSTED_CONFIG", m);
  });
  if (!config) throw new NsboxError("PATH_NOT_FOUND", "no nsbox.json or package.json#nsbox here or above: name the file", { hint: `usage: ${USAGE}` });
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
  else for (const r of rows) process.stdout.write(`${r.file}  ${r.state}  (since ${r.trusted})\n`);
  return 0;
}

export function run(args: string[], outer: Map<string, string | boolean>): number {
  const { flags, positional } = parseSubArgs(args, { list: { type: "boolean" }, json: { type: "boolean" } }, USAGE, outer);
  if (flags.get("list") === true) return list(flags.get("json") === true);
  if (positional.length > 1) throw new NsboxError("BAD_OPTION", `usage: ${USAGE}`);
  const config = target(positional[0]);
  const place = { root: config.root, home: realHome() };
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

export function untrust(args: string[], outer: Map<string, string | boolean>): number {
  const { positional } = parseSubArgs(args, {}, USAGE, outer);
  if (positional.length > 1) throw new NsboxError("BAD_OPTION", `usage: ${USAGE}`);
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
