// The package registries npm, Bun and pip are configured to use by the user: what --net allow=@registries means.
import { lstatSync } from "node:fs";
import { smallFileText } from "../small-file.ts";
import { join } from "node:path";

const DEFAULTS = ["registry.npmjs.org:443", "pypi.org:443", "files.pythonhosted.org:443"];
const MAX_CONFIG = 1024 * 1024;

/**
 * The text of a configuration file, or "" when it is missing or not to be trusted. Security
 * decision: these are the user's own files (home, XDG config) or the machine's (/etc): the
 * file, and a symlink standing at its place, must belong to the user or to root (`rootOnly`
 * for system-wide files), and must not be writable by others. The file is checked through the
 * descriptor it is read from.
 */
function readOwn(path: string, uid: number, rootOnly = false): string {
  const owner = (id: number) => id === 0 || (!rootOnly && id === uid);
  try {
    const link = lstatSync(path);
    if (link.isSymbolicLink() && !owner(link.uid)) return "";
  } catch {
    return "";
  }
  return smallFileText(path, { max: MAX_CONFIG, follow: true, accept: (st) => (owner(st.uid) && (st.mode & 0o022) === 0 ? undefined : "not trusted") }) ?? "";
}

/** A project file, read only to say what was ignored: not followed if a symlink, small and regular only. */
function readPlanted(path: string): string {
  return smallFileText(path, { max: MAX_CONFIG }) ?? "";
}

/** host:port of a registry URL, or undefined when it is not one. */
export function hostPort(url: string): string | undefined {
  try {
    const u = new URL(url.trim().replace(/^["']|["']$/g, ""));
    if (u.protocol !== "http:" && u.protocol !== "https:") return undefined;
    return `${u.hostname}:${u.port || (u.protocol === "https:" ? 443 : 80)}`;
  } catch {
    return undefined;
  }
}

/** Registry URLs in an .npmrc: `registry=` and `@scope:registry=`, with ${VAR} expanded from `env`. */
function npmrc(text: string, env: Record<string, string | undefined>): string[] {
  return [...text.matchAll(/^[ \t]*(?:@[\w.-]+:)?registry[ \t]*=[ \t]*(\S+)/gm)].map((m) => m[1]!.replace(/\$\{(\w+)\}/g, (_, v: string) => env[v] ?? ""));
}

/** Registry URLs in a bunfig.toml: [install] registry and [install.scopes], as strings or { url }. */
function bunfig(text: string): string[] {
  if (!text) return [];
  let install: { registry?: unknown; scopes?: Record<string, unknown> } | undefined;
  try {
    install = (Bun.TOML.parse(text) as { install?: typeof install }).install;
  } catch {
    return [];
  }
  const url = (v: unknown) => (typeof v === "string" ? v : typeof v === "object" && v && typeof (v as { url?: unknown }).url === "string" ? (v as { url: string }).url : undefined);
  return [install?.registry, ...Object.values(install?.scopes ?? {})].map(url).filter((u): u is string => u !== undefined);
}

/** Index URLs in a pip.conf: index-url and extra-index-url, whose value may go on over indented lines. */
function pipConf(text: string): string[] {
  const urls: string[] = [];
  let inIndex = false;
  for (const line of text.split("\n")) {
    const m = /^(extra[-_])?index[-_]url[ \t]*[=:](.*)$/i.exec(line);
    if (m) {
      inIndex = true;
      urls.push(...m[2]!.trim().split(/\s+/).filter(Boolean));
    } else if (inIndex && /^[ \t]+\S/.test(line)) urls.push(...line.trim().split(/\s+/));
    else inIndex = false;
  }
  return urls;
}

/**
 * Whether nsbox was started by a package manager's script runner (`npm run`, `npm test`, pnpm,
 * Yarn): those export their whole effective configuration as lower-case `npm_config_*`
 * variables, the project's `.npmrc` included, so such variables are no longer the user's word.
 */
const underScriptRunner = (env: Record<string, string | undefined>) => env.npm_lifecycle_event !== undefined || env.npm_command !== undefined;

/** Variables that name registries (npm, Bun, pip, uv, Yarn). */
function fromEnv(env: Record<string, string | undefined>): string[] {
  const lower = underScriptRunner(env) ? [] : ["npm_config_registry", ...Object.keys(env).filter((k) => /^npm_config_@[^:]+:registry$/.test(k))];
  const names = ["NPM_CONFIG_REGISTRY", "BUN_CONFIG_REGISTRY", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
    "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "YARN_REGISTRY", "YARN_NPM_REGISTRY_SERVER"];
  const scoped = Object.keys(env).filter((k) => /^NPM_CONFIG_@[^:]+:REGISTRY$/.test(k));
  return [...names, ...scoped, ...lower].flatMap((name) => (env[name] ?? "").split(/\s+/).filter(Boolean));
}

/**
 * What @registries stands for: host:port of each registry the user configured (their own
 * .npmrc, npm's global npmrc, ~/.bunfig.toml, pip.conf in their config directories and /etc, and
 * the environment), plus the public defaults; and notes about registries named only by project
 * files, which are ignored. Security decision: the project's .npmrc, bunfig.toml or pip.conf
 * are written by whoever wrote the project (or by an earlier payload), so they are never a
 * reason to open a port; and every registry, the user's included, still passes the address
 * policy (src/net/address-policy.ts) with no exemption: a registry on loopback or a private
 * address needs a command-line rule naming it.
 */
export function configuredRegistries(home: string, cwd: string, env: Record<string, string | undefined>, uid = process.getuid?.() ?? 0): { registries: string[]; notes: string[] } {
  const xdg = env.XDG_CONFIG_HOME || join(home, ".config");
  const urls: string[] = [];
  const runner = underScriptRunner(env);
  const userNpmrc = env.NPM_CONFIG_USERCONFIG || (!runner && env.npm_config_userconfig) || join(home, ".npmrc");
  urls.push(...npmrc(readOwn(userNpmrc, uid), env));
  const globalNpmrc = env.NPM_CONFIG_GLOBALCONFIG || (!runner && env.npm_config_globalconfig);
  if (globalNpmrc) urls.push(...npmrc(readOwn(globalNpmrc, uid), env));
  for (const file of ["/etc/npmrc", "/usr/etc/npmrc", "/usr/local/etc/npmrc"]) urls.push(...npmrc(readOwn(file, uid, true), env));
  for (const file of new Set([join(xdg, ".bunfig.toml"), join(home, ".bunfig.toml")])) urls.push(...bunfig(readOwn(file, uid)));
  const pipUser = env.PIP_CONFIG_FILE && env.PIP_CONFIG_FILE !== "/dev/null" ? [env.PIP_CONFIG_FILE] : [];
  for (const file of new Set([...pipUser, join(xdg, "pip", "pip.conf"), join(home, ".pip", "pip.conf")])) urls.push(...pipConf(readOwn(file, uid)));
  for (const file of ["/etc/xdg/pip/pip.conf", "/etc/pip.conf"]) urls.push(...pipConf(readOwn(file, uid, true)));
  urls.push(...fromEnv(env));
  const registries = [...new Set([...urls.map(hostPort).filter((h): h is string => h !== undefined), ...DEFAULTS])];

  const notes: string[] = [];
  const planted: [string, string[]][] = [
    [".npmrc", npmrc(readPlanted(join(cwd, ".npmrc")), {})],
    ["bunfig.toml", bunfig(readPlanted(join(cwd, "bunfig.toml")))],
    ["pip.conf", pipConf(readPlanted(join(cwd, "pip.conf")))],
  ];
  for (const [file, found] of planted) {
    for (const where of new Set(found.map(hostPort).filter((h): h is string => h !== undefined && !registries.includes(h)))) {
      notes.push(`@registries: ignored the registry ${where} in the project's ${file} (project files do not open ports); if you trust it, add --net allow=${where}`);
    }
  }
  // The project picks how many it names: a few notes say it, a thousand would bury every other warning.
  const shownNotes = notes.length > 10 ? [...notes.slice(0, 10), `@registries: and ${notes.length - 10} more registries in the project's files, ignored too`] : notes;
  return { registries, notes: shownNotes };
}
