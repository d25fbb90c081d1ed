// The package registries npm, Bun and pip are configured to use here: what --net allow=@registries means.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const DEFAULTS = ["registry.npmjs.org:443", "pypi.org:443", "files.pythonhosted.org:443"];

function read(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** host:port of a registry URL, or undefined when it is not one. */
function hostPort(url: string): string | undefined {
  try {
    const u = new URL(url.trim().replace(/^["']|["']$/g, ""));
    if (u.protocol !== "http:" && u.protocol !== "https:") return undefined;
    return `${u.hostname}:${u.port || (u.protocol === "https:" ? 443 : 80)}`;
  } catch {
    return undefined;
  }
}

/** Rules (host:port) for the registries configured for npm (.npmrc), Bun (bunfig.toml) and pip (pip.conf), plus the defaults. */
export function configuredRegistries(home: string, cwd: string, env: Record<string, string | undefined>): string[] {
  const urls: string[] = [];
  for (const file of [join(home, ".npmrc"), join(cwd, ".npmrc")]) {
    for (const m of read(file).matchAll(/^\s*(?:@[\w.-]+:)?registry\s*=\s*(\S+)/gm)) urls.push(m[1]!);
  }
  for (const file of [join(home, ".bunfig.toml"), join(cwd, "bunfig.toml")]) {
    for (const m of read(file).matchAll(/^\s*registry\s*=\s*"([^"]+)"/gm)) urls.push(m[1]!);
    for (const m of read(file).matchAll(/^\s*registry\s*=\s*\{[^}]*url\s*=\s*"([^"]+)"/gm)) urls.push(m[1]!);
  }
  for (const file of [join(home, ".config/pip/pip.conf"), join(home, ".pip/pip.conf"), "/etc/pip.conf"]) {
    for (const m of read(file).matchAll(/^\s*(?:extra-)?index-url\s*=\s*(\S+)/gm)) urls.push(m[1]!);
  }
  for (const name of ["NPM_CONFIG_REGISTRY", "npm_config_registry", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"]) {
    if (env[name]) urls.push(env[name]!);
  }
  return [...new Set([...urls.map(hostPort).filter((h): h is string => h !== undefined), ...DEFAULTS])];
}
