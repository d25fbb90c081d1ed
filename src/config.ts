// The project config: an `nsbox` key in package.json or an nsbox.json at the project root.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { NsboxError } from "./errors.ts";
import type { ProfileDef } from "./profiles.ts";
import { resolveProfile } from "./profiles.ts";

export interface ProjectConfig {
  /** The file it came from, e.g. /work/app/nsbox.json or /work/app/package.json#nsbox. */
  file: string;
  /** The project root: relative paths in the file are relative to it. */
  root: string;
  profiles: Record<string, ProfileDef>;
}

const TOP_KEYS = new Set(["$schema", "profiles"]);

function invalid(file: string, message: string): NsboxError {
  return new NsboxError("BAD_OPTION", `${file}: ${message}`, { path: file });
}

/** Validate a config object; every profile is applied once so that a bad value is found now. */
export function parseConfig(raw: unknown, file: string, root = dirname(file.replace(/#nsbox$/, ""))): ProjectConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw invalid(file, "expected an object");
  for (const key of Object.keys(raw)) if (!TOP_KEYS.has(key)) throw invalid(file, `${key}: unknown key (expected "profiles")`);
  const profiles = (raw as { profiles?: unknown }).profiles ?? {};
  if (typeof profiles !== "object" || profiles === null || Array.isArray(profiles)) throw invalid(file, "profiles: expected an object of named profiles");
  for (const [name, def] of Object.entries(profiles)) {
    if (typeof def !== "object" || def === null || Array.isArray(def)) throw invalid(file, `profiles.${name}: expected an object of options`);
  }
  const config = { file, root, profiles: profiles as Record<string, ProfileDef> };
  for (const name of Object.keys(config.profiles)) resolveProfile(name, config.profiles, file, root);
  return config;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw invalid(path, `not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Find the project root from `dir` upwards: the first directory with an nsbox.json or a
 * package.json. Returns its config, or undefined when it has none. An nsbox.json is always
 * checked; a package.json (npm's file) only when a profile is asked for.
 */
export function loadProjectConfig(dir: string, forProfile = true): ProjectConfig | undefined {
  for (let at = dir; ; at = dirname(at)) {
    const own = join(at, "nsbox.json");
    if (existsSync(own)) return parseConfig(readJson(own), own);
    const pkg = join(at, "package.json");
    if (existsSync(pkg)) {
      if (!forProfile) return undefined;
      const json = readJson(pkg) as { nsbox?: unknown };
      return json.nsbox === undefined ? undefined : parseConfig(json.nsbox, `${pkg}#nsbox`);
    }
    if (at === "/") return undefined;
  }
}
