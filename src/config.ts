// The project config: an `nsbox` key in package.json or an nsbox.json at the project root.
import { existsSync, realpathSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileError } from "./errno.ts";
import { NsboxError } from "./errors.ts";
import { PINNED_FILES, type Pinned, type SandboxOptions } from "./options.ts";
import type { Warn } from "./options/normalize.ts";
import type { ProfileDef } from "./profiles.ts";
import { readConfigFile, realHome, requireTrust, sha256 } from "./trust.ts";

export interface ProjectConfig {
  /** The file it came from, e.g. /work/app/nsbox.json or /work/app/package.json#nsbox. */
  file: string;
  /** The project root: relative paths in the file are relative to it. */
  root: string;
  profiles: Record<string, ProfileDef>;
  /** sha256 of what was parsed: nsbox.json's bytes, or the `nsbox` value of package.json as JSON. */
  sha256: string;
}

export type { Warn };

// Profiles and the loosening check are loaded only when a profile is resolved or a config
// parsed (-p, nsbox profile, nsbox trust): a plain run reads nsbox.json at most, and every
// module at start costs its load time (and a descriptor while Bun reads it).
const profileModule = () => require("./profiles.ts") as typeof import("./profiles.ts");

const TOP_KEYS = new Set(["$schema", "profiles"]);

function invalid(file: string, message: string): NsboxError {
  return new NsboxError("BAD_OPTION", `${file}: ${message}`, { path: file });
}

/**
 * How deep a config's values may nest. JSON.parse accepts 100,000 levels, and JSON.stringify
 * (the file's hash) then overflowed the stack: a cloned project's nsbox.json made every nsbox
 * run there an internal error. Walked without recursion.
 */
const MAX_DEPTH = 64;

function tooDeep(raw: unknown): boolean {
  const todo: [unknown, number][] = [[raw, 0]];
  while (todo.length > 0) {
    const [v, depth] = todo.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth >= MAX_DEPTH) return true;
    for (const inner of Object.values(v)) todo.push([inner, depth + 1]);
  }
  return false;
}

/** Validate a config object: every profile's values and `extends` chain, once (profiles.ts checkProfiles). */
export function parseConfig(raw: unknown, file: string, root = dirname(file.replace(/#nsbox$/, ""))): ProjectConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw invalid(file, "expected an object");
  if (tooDeep(raw)) throw invalid(file, `values nested deeper than ${MAX_DEPTH} levels`);
  for (const key of Object.keys(raw)) if (!TOP_KEYS.has(key)) throw invalid(file, `${key}: unknown key (expected "profiles")`);
  const profiles = (raw as { profiles?: unknown }).profiles ?? {};
  if (typeof profiles !== "object" || profiles === null || Array.isArray(profiles)) throw invalid(file, "profiles: expected an object of named profiles");
  // A null-prototype copy: profile names like "__proto__" or "valueOf" are names like any other.
  const own = Object.assign(Object.create(null) as Record<string, ProfileDef>, profiles);
  for (const [name, def] of Object.entries(own)) {
    if (typeof def !== "object" || def === null || Array.isArray(def)) throw invalid(file, `profiles.${name}: expected an object of options`);
    for (const key of ["extends", "description"]) {
      const v = (def as Record<string, unknown>)[key];
      if (v !== undefined && typeof v !== "string") throw invalid(file, `profiles.${name}.${key}: expected a string, got ${JSON.stringify(v)}`);
    }
  }
  profileModule().checkProfiles(own, file, root);
  return { file, root, profiles: own, sha256: sha256(JSON.stringify(raw)) };
}

function parseJson(path: string, bytes: Buffer): unknown {
  try {
    // A byte order mark, as some Windows editors write one, is not part of the JSON.
    return JSON.parse(bytes.toString("utf8").replace(/^\uFEFF/, ""));
  } catch (e) {
    throw invalid(path, `not valid JSON: ${(e as Error).message}`);
  }
}

/** package.json's `nsbox` value, if it has one (the file may hold any JSON: null, a list, a number). */
function nsboxKey(json: unknown): unknown {
  return typeof json === "object" && json !== null && !Array.isArray(json) && Object.hasOwn(json, "nsbox") ? (json as { nsbox: unknown }).nsbox : undefined;
}

/**
 * For a run without -p, which uses no profile: the project's nsbox.json is found and read, but
 * its profiles are not resolved, and what is wrong with it is a warning, not a refusal. A
 * broken nsbox.json used to stop every run in its directory; as with docker-compose.yml and
 * `docker run`, it now matters only to the runs that use it (-p). package.json is npm's file and
 * is not read at all.
 */
export function checkProjectConfig(dir: string, warn: Warn): void {
  for (let at = dir; ; at = dirname(at)) {
    const own = join(at, "nsbox.json");
    try {
      const read = readConfigFile(own);
      if (read && "ignored" in read) return warn(`${own} is ignored: ${read.ignored}`);
      if (read) {
        const raw = parseJson(own, read.bytes);
        if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw invalid(own, "expected an object");
        if (tooDeep(raw)) throw invalid(own, `values nested deeper than ${MAX_DEPTH} levels`);
        return;
      }
    } catch (e) {
      if (!(e instanceof NsboxError)) throw e;
      return warn(`${e.message} (this run uses no profile from it; runs with -p are refused until it is fixed)`);
    }
    if (existsSync(join(at, "package.json")) || at === "/") return;
  }
}

/**
 * Find the project root from `dir` upwards: the first directory with an nsbox.json or a
 * package.json. Returns its config, or undefined when it has none. An nsbox.json is always
 * checked; a package.json (npm's file) only when a profile is asked for. A config file that
 * someone else could have written (src/trust.ts readConfigFile) is ignored, with a warning.
 */
export function loadProjectConfig(dir: string, forProfile = true, warn: Warn = () => {}): ProjectConfig | undefined {
  for (let at = dir; ; at = dirname(at)) {
    const own = join(at, "nsbox.json");
    const read = readConfigFile(own);
    if (read && "ignored" in read) return void warn(`${own} is ignored: ${read.ignored}`);
    if (read) {
      const config = parseConfig(parseJson(own, read.bytes), own);
      return { ...config, sha256: sha256(read.bytes) };
    }
    const pkg = join(at, "package.json");
    const pkgRead = readConfigFile(pkg);
    if (pkgRead) {
      if (!forProfile) return undefined;
      if ("ignored" in pkgRead) return void warn(`${pkg} is ignored: ${pkgRead.ignored}`);
      const nsbox = nsboxKey(parseJson(pkg, pkgRead.bytes));
      return nsbox === undefined ? undefined : parseConfig(nsbox, `${pkg}#nsbox`);
    }
    if (at === "/") return undefined;
  }
}

/**
 * The options of profile `name` as the project at `dir` defines it (or the built-in), refused
 * when the project's definition loosens the sandbox and the user has not trusted the file in
 * its current content (src/trust.ts, src/loosening.ts).
 */
export function projectProfile(name: string, dir: string, warn: Warn = () => {}, asked = "--profile"): SandboxOptions {
  const config = loadProjectConfig(dir, true, warn);
  const options = profileModule().resolveProfile(name, config?.profiles, config?.file, config?.root, asked);
  if (config) {
    const { checkedDigests, loosenings } = require("./loosening.ts") as typeof import("./loosening.ts");
    const found = loosenings(name, config.profiles, config.file, { root: config.root, home: realHome(), cwd: dir });
    requireTrust(found, name, config.file, config.sha256, config.root, dir, warn);
    // Security decision: trust was checked against the filter's bytes as read just now; a
    // payload with the project writable (a named sandbox) could swap the file before the plan
    // reads it again, so the plan must install those bytes or none.
    const filter = options.seccomp;
    if (filter !== undefined && filter !== "default" && filter !== "none") {
      (options as Pinned)[PINNED_FILES] = { [resolve(filter)]: checkedDigests.get(resolve(filter)) ?? "" };
    }
  }
  return options;
}

/**
 * The config in one named file (nsbox.json, or package.json's `nsbox` key), for `nsbox trust`:
 * its path made real (symlinks in the directories resolved, not in the file's own name).
 */
export function loadConfigFile(path: string): ProjectConfig {
  let file: string;
  try {
    file = join(realpathSync(dirname(resolve(path))), basename(path));
  } catch (e) {
    // EACCES on a directory on the way is not "no such file".
    throw new NsboxError("PATH_NOT_FOUND", `${path}: ${fileError(e)}`, { path });
  }
  const read = readConfigFile(file);
  if (!read) throw new NsboxError("PATH_NOT_FOUND", `${file}: no such file or directory`, { path: file });
  if ("ignored" in read) throw new NsboxError("UNTRUSTED_CONFIG", `${file} cannot be trusted: ${read.ignored}`, { path: file });
  const json = parseJson(file, read.bytes);
  if (basename(file) !== "package.json") return { ...parseConfig(json, file), sha256: sha256(read.bytes) };
  const nsbox = nsboxKey(json);
  if (nsbox === undefined) throw new NsboxError("BAD_OPTION", `${file} has no "nsbox" key: there is nothing to trust`, { path: file });
  return parseConfig(nsbox, `${file}#nsbox`);
}
