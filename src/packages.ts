// The packages nsbox loads after a sandbox may be running (dns-packet at its first DNS query,
// consola at the first message), found once, before any sandbox of this process starts, and
// loaded later by the absolute real path of their entry file. Loaded by name instead, Bun would
// look for them at load time in node_modules directories nearer to nsbox's code
// (`<project>/node_modules/nsbox/node_modules/dns-packet`, `<pkg>/dist/node_modules/consola`)
// that a payload sharing the project can create during the run: the host would run its code.
// Found by Bun.resolveSync once per process (Bun's own reading of the exports map): about 0.3 ms
// of a start more than the node_modules walk OWN_CODE used before, measured with the walk
// (0.58 ms) and this (0.87 ms), medians of 21 fresh processes each.
import { realpathSync } from "node:fs";
import { dirname } from "node:path";
import { packageRoot } from "./package-root.ts";

export interface OwnPackage {
  /** The package's directory, symlinks resolved, when it is an install (in a node_modules/NAME). */
  dir?: string;
  /** Its entry file, symlinks resolved: what `import(name)` (consola) or `require(name)` (dns-packet) loads. */
  entry: string;
}

export interface OwnPackages {
  /** nsbox's package directory, symlinks resolved. */
  root: string;
  consola?: OwnPackage;
  dnsPacket?: OwnPackage;
  /** The directory of dns-packet's one dependency (dns-packet requires it from its own directory). */
  ipCodec?: string;
}

let found: OwnPackages | undefined;

/**
 * nsbox's own packages, found at the first call and never again: buildPlan calls it (through
 * OWN_CODE) before the sandbox starts, so a later load never looks a name up.
 */
export function ownPackages(): OwnPackages {
  if (found) return found;
  const root = realpathOr(packageRoot());
  const consola = resolvePackage("consola", root);
  const dnsPacket = resolvePackage("dns-packet", root);
  const ipCodec = dnsPacket && resolvePackage("@leichtgewicht/ip-codec", dnsPacket.dir ?? dirname(dnsPacket.entry))?.dir;
  return (found = { root, consola, dnsPacket, ipCodec });
}

/** The absolute entry file of own package `name`, or an error naming the fix. */
export function ownEntry(name: "consola" | "dns-packet"): string {
  const p = name === "consola" ? ownPackages().consola : ownPackages().dnsPacket;
  if (!p) throw new Error(`nsbox's package ${name} is not installed beside nsbox (${ownPackages().root}): run \`bun install\` there`);
  return p.entry;
}

/**
 * Package `name` as Bun resolves it from directory `from` (its exports map or main, read by Bun:
 * the entry `import(name)` loads), symlinks resolved. `dir` is the package's directory when it
 * lies in a node_modules/NAME (a linked checkout elsewhere is not an install: its entry is still
 * used, its directory not guarded as an install's). Undefined when it is not installed.
 */
function resolvePackage(name: string, from: string): OwnPackage | undefined {
  let entry: string;
  try {
    entry = realpathSync(Bun.resolveSync(name, from));
  } catch {
    return undefined;
  }
  const end = entry.lastIndexOf(`/node_modules/${name}/`);
  return { dir: end >= 0 ? entry.slice(0, end + `/node_modules/${name}`.length) : undefined, entry };
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
