// What a project profile loosens: one table, every option with its rule and the reason for it.
import { realpathSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { readHost } from "./host.ts";
import { guardedPaths } from "./plan/protected.ts";
import { applyConfigValue } from "./options/normalize.ts";
import type { SandboxOptions } from "./options.ts";
import type { MountSpec } from "./plan/mount-spec.ts";
import { BUILTIN_PROFILES, profileChain, type ProfileDef } from "./profiles.ts";
import { readConfigFile, sha256 } from "./trust.ts";
import { parseRlimit } from "./plan/privileges.ts";
import { capBytes, TMPFS_LIMITS } from "./plan/tmpfs.ts";
import { totalmem } from "node:os";

/** Where relative and `~` paths of a project profile lead. */
export interface Place {
  /** The project root (the config file's directory), real. */
  root: string;
  home: string;
  /** Where the run starts (default: the root): a built-in profile's relative paths (test's `./node_modules`) lead from there. */
  cwd?: string;
}

/** One option value's rule: undefined when it does not loosen, else what it opens (a phrase). */
type Rule = (o: SandboxOptions, place: Place) => string | undefined;

/** A host path as nsbox will use it: `~` expanded, relative to the root, normalised. */
function hostPath(path: string, place: Place): string {
  const p = path === "~" ? place.home : path.startsWith("~/") ? place.home + path.slice(1) : path;
  return resolve(place.root, p);
}

const within = (path: string, dir: string) => path === dir || path.startsWith(dir.endsWith("/") ? dir : `${dir}/`);

/**
 * Where `path` lies outside the project, or undefined when it is inside. Checked on the path as
 * written and, when it exists, as resolved: `./fixtures -> ~/.ssh` is outside too.
 */
function outside(path: string | undefined, place: Place): string | undefined {
  if (path === undefined) return undefined;
  const p = hostPath(path, place);
  if (!within(p, place.root)) return p;
  try {
    const real = realpathSync(p);
    if (!within(real, place.root)) return real;
  } catch {
    // missing: a -try source that is skipped, or an error the plan reports
  }
  return undefined;
}

/**
 * The content of a file an option takes as policy (a seccomp filter), for the loosening's line:
 * trust covers the line, so a file rewritten after `nsbox trust` (an allow-all filter written by
 * a payload into the project) is a different loosening and untrusted again.
 */
function fileDigest(path: string): string {
  const read = readConfigFile(resolve(path));
  const digest = read && "bytes" in read ? sha256(read.bytes) : "";
  checkedDigests.set(resolve(path), digest);
  return !read ? "missing" : "ignored" in read ? `unusable: ${read.ignored}` : `sha256 ${digest.slice(0, 16)}`;
}

/**
 * The sha256 of each policy file as the last check read it ("" when it was missing or
 * unusable), for the plan to install exactly those bytes (config.ts projectProfile): read twice,
 * the file could be swapped between the check and the plan's read.
 */
export const checkedDigests = new Map<string, string>();

/** A tmpfs size= beyond the scratch cap (a quarter of RAM, at most 1 GiB): what it lets the payload hold. */
function bigTmpfs(size: string | undefined): string | undefined {
  // As bytes: 25% of a 23 GiB machine is 6 GiB, past the 1 GiB cap.
  return size !== undefined && tmpfsBytes(size) > capBytes("scratch") ? `lets a tmpfs hold up to ${size} of the host's memory` : undefined;
}

/** A tmpfs's size in bytes as mounted: size= (k, m, g, % of RAM), else the scratch cap. */
function tmpfsBytes(size: string | undefined): number {
  const m = size?.match(/^(\d+)([kmg%]?)$/i);
  if (!m) return capBytes("scratch");
  const unit = m[2]!.toLowerCase();
  return unit === "%" ? (Number(m[1]) / 100) * totalmem() : Number(m[1]) * ({ k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<string, number>)[unit]! || Number(m[1]);
}

/** A tmpfs's file count as mounted: nr_inodes= (k, m, g), else the scratch default. */
function tmpfsInodes(inodes: string | undefined): number {
  const m = (inodes ?? TMPFS_LIMITS.scratch.inodes).match(/^(\d+)([kmg]?)$/i);
  return m ? Number(m[1]) * (({ k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<string, number>)[m[2]!.toLowerCase()] ?? 1) : 0;
}

/** Files cost kernel memory that size= does not count (an inode and a dentry each, about 1 KiB). */
function manyInodes(inodes: string | undefined): string | undefined {
  return inodes !== undefined && tmpfsInodes(inodes) > tmpfsInodes(undefined) ? `lets a tmpfs hold nr_inodes=${inodes} files, each in the host's kernel memory` : undefined;
}

/** guardedPaths of `dir`, once per check (a profile of many shares in one directory reads its git config once). */
const guardCache = new WeakMap<Place, Map<string, string[]>>();
function guardedOnce(place: Place, dir: string, host: ReturnType<typeof readHost>): string[] {
  let cache = guardCache.get(place);
  if (!cache) guardCache.set(place, (cache = new Map()));
  let paths = cache.get(dir);
  if (!paths) cache.set(dir, (paths = guardedPaths(dir, host)));
  return paths;
}

/**
 * Security decision: a writable share guards the files of the project that the host runs or
 * obeys later (git's hooks and config, .envrc, editor tasks: plan/protected.ts), but a share
 * whose root is one of them, or lies inside one (`rw: ".git/hooks"`, `rw-try: ".envrc"`, an
 * overlay's upper directory at `.git/hooks`), or holds one that its own root does not guard
 * again (`rw: ".git"`), leaves it writable: the next `git commit` on the host runs what the
 * payload wrote. That is the user's to open, never a project file's: listed as a loosening.
 * Checked against what every directory from the project root down to the share would guard,
 * as the current directory or any share there could be the one that guards it.
 */
function opensGuarded(path: string | undefined, place: Place): string | undefined {
  if (path === undefined) return undefined;
  const asWritten = hostPath(path, place);
  let real = asWritten;
  try {
    real = realpathSync(asWritten);
  } catch {}
  for (const share of new Set([asWritten, real])) {
    if (share === place.root || !within(share, place.root)) continue;
    let host: ReturnType<typeof readHost>;
    try {
      host = readHost(place.root);
    } catch {
      return `may make files the host runs later writable (${share}), which nsbox could not check`;
    }
    const above: string[] = [];
    for (let d = dirname(share); within(d, place.root); d = dirname(d)) {
      above.push(d);
      if (d === place.root) break;
    }
    const again = new Set(guardedPaths(share, host, true));
    for (const g of above.flatMap((d) => guardedOnce(place, d, host))) {
      if (within(share, g) || (within(g, share) && !again.has(g))) return `makes ${g} writable, which the host runs or obeys later`;
    }
  }
  return undefined;
}

const mount = (o: SandboxOptions): MountSpec => o.mounts![0]!;
const reads: Rule = (o, place) => {
  const at = outside(mount(o).source, place);
  return at && `reads ${at}, outside the project`;
};
const writes: Rule = (o, place) => {
  const at = outside(mount(o).source, place);
  return at ? `writes ${at}, outside the project` : opensGuarded(mount(o).source, place);
};
const never: Rule = () => undefined;

/**
 * Every sandbox option, and whether a value of it written in an untrusted project file loosens the
 * sandbox. A profile's values are compared with what the built-in profile of the same name
 * already gives (src/trust.ts), so `"test": {"extends": "test"}` repeats nothing that needs
 * trust, while a project "test" that extends "install" gets install's network only when trusted.
 * An option missing here loosens (fail closed); a test keeps the table complete.
 */
export const LOOSENING: Record<string, { rule: Rule; why: string }> = {
  uid: { rule: never, why: "an id inside the user namespace; outside it is always the caller" },
  gid: { rule: never, why: "as uid" },
  hostname: { rule: never, why: "a name inside the UTS namespace" },
  propagation: { rule: (o) => (o.propagation === "slave" ? "lets the host's later mounts into the sandbox" : undefined), why: "slave shows host mounts made after the start (a USB key, a decrypted volume)" },
  env: { rule: never, why: "sets variables inside only; the scrub still applies to the host's" },
  "keep-env": { rule: (o) => `passes ${o.keepEnv![0]} into the sandbox although it looks like a secret`, why: "the scrub is what keeps the user's tokens out" },
  "clear-env": { rule: never, why: "tightens: less of the environment goes in" },
  chdir: { rule: never, why: "only where the command starts inside the view; what is visible is decided by the other options" },
  "no-cwd": { rule: never, why: "tightens: the current directory is not shared" },
  ro: { rule: reads, why: "a host path outside the project becomes readable" },
  "ro-try": { rule: reads, why: "as ro" },
  rw: { rule: writes, why: "a host path outside the project becomes writable; inside it, a share at or in a path the host runs later (.git/hooks, .envrc) opens it" },
  "rw-try": { rule: writes, why: "as rw" },
  bind: { rule: writes, why: "as rw, at another place inside" },
  "bind-try": { rule: writes, why: "as bind" },
  "ro-bind": { rule: reads, why: "as ro, at another place inside" },
  "ro-bind-try": { rule: reads, why: "as ro-bind" },
  "dev-bind": { rule: (o) => `binds the device ${mount(o).source}`, why: "devices are the kernel's attack surface, wherever they are" },
  "dev-bind-try": { rule: (o) => `binds the device ${mount(o).source}`, why: "as dev-bind" },
  hide: { rule: never, why: "tightens: hides a path" },
  "hide-try": { rule: never, why: "as hide" },
  tmpfs: { rule: (o) => bigTmpfs(mount(o).size) ?? manyInodes(mount(o).inodes), why: "a fresh, empty filesystem inside; its pages are the host's memory, so a size above the default cap (a quarter of RAM, at most 1 GiB) loosens, and so does an nr_inodes above the default 256k (files are kernel memory); the mounts together are bounded too (tmpfsTotal)" },
  dir: { rule: never, why: "an empty directory inside the view; on the host only within a share that is writable anyway" },
  file: { rule: (o, place) => { const at = outside(mount(o).source, place); return at && `reads ${at} (the content file), outside the project`; }, why: "the content file is read on the host" },
  symlink: { rule: never, why: "a link inside the view; its target is resolved inside" },
  overlay: {
    rule: (o, place) => {
      const lower = outside(mount(o).source, place);
      const upper = outside(mount(o).upper, place);
      // The upper directory is written on the host: inside the project, where it may still be `.git/hooks`.
      if (!lower && !upper) return opensGuarded(mount(o).upper, place);
      return `${[lower && `reads ${lower}`, upper && `writes the changes to ${upper}`].filter(Boolean).join(" and ")}, outside the project`;
    },
    why: "the lower layer is read and the upper directory written on the host (inside the project too, where it may be .git/hooks)",
  },
  "overlay-try": { rule: (o, place) => LOOSENING.overlay!.rule(o, place), why: "as overlay" },
  "cap-add": { rule: (o) => `keeps the capability ${o.capAdd![0]}`, why: "capabilities inside the namespaces widen the kernel attack surface" },
  "cap-drop": { rule: never, why: "tightens" },
  seccomp: { rule: (o) => (o.seccomp === "default" ? undefined : o.seccomp === "none" ? "turns the syscall filter off" : `replaces the syscall filter with ${o.seccomp} (${fileDigest(o.seccomp!)})`), why: "the filter is a wall; its file's content is part of what is trusted" },
  "allow-nested": { rule: (o) => (o.allowNested ? "allows user namespaces inside (and turns Landlock off)" : undefined), why: "nested namespaces are kernel attack surface, and Landlock goes off" },
  "pass-fd": { rule: (o) => `passes descriptor ${o.passFds![0]} of the shell that started nsbox`, why: "a descriptor reaches whatever it was opened on (a file outside the view, a socket, a pipe to a host program)" },
  "home-tools": { rule: never, why: "on is the default (read-only, without credentials files); off tightens" },
  landlock: { rule: (o) => (o.landlock === "off" ? "turns Landlock off" : undefined), why: "Landlock is the second wall behind the mounts" },
  "id-map": {
    rule: (o) => (o.idMap === "auto" ? "maps your subordinate ids, and root inside keeps chown, dac_override, fowner, fsetid, kill, setuid and setgid over them" : undefined),
    why: "files the sandbox gives to those ids in a writable share are no longer yours on the host; single (the default) keeps them yours",
  },
  rlimit: {
    rule: (o) => {
      const l = parseRlimit(o.rlimits![0]!);
      return l.name === "core" && (l.soft !== "0" || l.hard !== "0") ? "lets crashes dump core (0 by default: a `|` core_pattern hands each dump to a program on the host)" : undefined;
    },
    why: "bounded by the caller's own hard limits; but core is 0 unless set, and a core dump goes to the host's core_pattern handler",
  },
  timeout: { rule: never, why: "only ends the sandbox sooner" },
  memory: { rule: never, why: "tightens" },
  pids: { rule: never, why: "tightens" },
  net: { rule: (o) => (o.net![0] === "none" ? undefined : o.net![0] === "host" ? "shares the host's network" : `opens the network: ${o.net![0]}`), why: "no network is the default; any other reaches out (or into the machine's services)" },
  "allow-socket": { rule: (o, place) => `lets the sandbox connect to the Unix socket ${hostPath(o.allowSockets![0]!, place)}, made outside it`, why: "a socket made outside the sandbox is a host service (an agent, tmux, Docker, D-Bus): talking to it acts outside the sandbox" },
  "net-log": { rule: (o) => `makes nsbox write ${o.netLog} on the host`, why: "a host file written by nsbox itself" },
  name: { rule: never, why: "a name for nsbox ps/exec/stop; a clash only refuses the run" },
  verbose: { rule: never, why: "prints more" },
};

/** One loosening, as the refusal lists it. */
export interface Loosening {
  /** Where it is written: `profiles.test.rw`, or `profiles.test.extends "install" (built-in install: rw-try)`. */
  key: string;
  value: unknown;
  what: string;
}

/** Every option value of a profile chain, with the key it was written under. */
function values(name: string, project: Record<string, ProfileDef>, fromProject: boolean) {
  const out: { def: { name: string; inProject: boolean; via?: string }; key: string; value: unknown }[] = [];
  for (const step of profileChain(name, fromProject ? project : {})) {
    for (const [key, value] of Object.entries(step.def)) {
      if (key === "description" || key === "extends") continue;
      for (const v of Array.isArray(value) ? value : [value]) out.push({ def: step, key, value: v });
    }
  }
  return out;
}

/**
 * What project profile `name` would loosen beyond the built-in profile of the same name (or the
 * default view when there is none). Values the built-in already gives are not listed.
 */
export function loosenings(name: string, project: Record<string, ProfileDef>, file: string, place: Place): Loosening[] {
  if (!Object.hasOwn(project, name)) return [];
  const one = (key: string, value: unknown, base?: string) => {
    const o: SandboxOptions = {};
    applyConfigValue(o, key, value, `${file}: ${key}`, base);
    return o;
  };
  const same = (o: SandboxOptions) => JSON.stringify(o, (k, v) => (k === "origin" || k === "option" ? undefined : v));
  const builtin = new Set((Object.hasOwn(BUILTIN_PROFILES, name) ? values(name, {}, false) : []).map(({ key, value }) => `${key}\0${same(one(key, value))}`));
  const found: Loosening[] = [];
  for (const { def, key, value } of values(name, project, true)) {
    const o = one(key, value, def.inProject ? place.root : undefined);
    if (builtin.has(`${key}\0${same(o)}`)) continue;
    const what = Object.hasOwn(LOOSENING, key) ? LOOSENING[key]!.rule(o, place) : "is an option nsbox does not know to be safe";
    if (what === undefined) continue;
    const at = def.inProject ? `profiles.${def.name}.${key}` : `profiles.${def.via}.extends "${def.name}" (built-in ${def.name}: ${key})`;
    found.push({ key: at, value, what });
  }
  return [...found, ...tmpfsTotal(name, project, builtin, one, same), ...undone(name, project, file, place, one)];
}

/**
 * Security decision: each tmpfs is capped, but a project profile can list many: 200 at the
 * default cap held 200 GiB of the host's memory, and 1,000 of size=1m still 256 million files.
 * Together, the project's tmpfs mounts may hold twice one default tmpfs (bytes and files) before
 * that is a loosening.
 */
function tmpfsTotal(name: string, project: Record<string, ProfileDef>, builtin: Set<string>, one: (key: string, value: unknown) => SandboxOptions, same: (o: SandboxOptions) => string): Loosening[] {
  let bytes = 0;
  let files = 0;
  let n = 0;
  for (const { key, value } of values(name, project, true)) {
    if (key !== "tmpfs") continue;
    const o = one(key, value);
    if (builtin.has(`${key}\0${same(o)}`)) continue;
    bytes += tmpfsBytes(mount(o).size);
    files += tmpfsInodes(mount(o).inodes);
    n++;
  }
  if (bytes <= 2 * tmpfsBytes(undefined) && files <= 2 * tmpfsInodes(undefined)) return [];
  return [{ key: `profiles.${name}.tmpfs`, value: `${n} mounts`, what: `${n} tmpfs mounts together may hold ${Math.round(bytes / 1024 ** 2)} MiB and ${files} files of the host's memory` }];
}

const WRITES = new Set(["rw", "rw-try", "bind", "bind-try"]);

/**
 * Security decision: a built-in profile's overlays of project directories (test's
 * ./node_modules, .venv, vendor) are its promise that no file there changes on the host (Bun
 * hard-links them from its global store, so a write there reaches other projects). A project
 * profile of the same name is the project's text, and package.json#nsbox is not protected: one
 * that leaves such an overlay out, or writes its directory through another mount after it
 * (`rw ./node_modules`, `bind .:/mnt`), undoes the promise and is listed as a loosening.
 */
function undone(name: string, project: Record<string, ProfileDef>, file: string, place: Place, one: (key: string, value: unknown, base?: string) => SandboxOptions): Loosening[] {
  if (!Object.hasOwn(BUILTIN_PROFILES, name)) return [];
  // The built-in's relative paths are the current directory's, as the plan resolves them: run
  // from a package of a monorepo, `test` overlays ITS node_modules, which a project `test` that
  // overlays the root's ./node_modules left writable in place.
  const builtinPlace = { ...place, root: place.cwd ?? place.root };
  const overlays = values(name, {}, false)
    .filter(({ key }) => key === "overlay" || key === "overlay-try")
    .map(({ key, value }) => ({ key, value, path: hostPath(mount(one(key, value)).source!, builtinPlace) }))
    .filter(({ path }) => within(path, place.root));
  const found: Loosening[] = [];
  const chain = values(name, project, true).map(({ def, key, value }) => ({ def, key, value, at: def.inProject ? place : builtinPlace, m: one(key, value, def.inProject ? place.root : undefined).mounts?.[0] }));
  for (const o of overlays) {
    const kept = chain.findLastIndex(({ key, m, at }) => (key === "overlay" || key === "overlay-try") && m?.upper === undefined && m?.source !== undefined && hostPath(m.source, at) === o.path);
    if (kept < 0) {
      found.push({ key: `profiles.${name}`, value: `${o.key} ${o.value}`, what: `leaves out the built-in ${name}'s overlay of ${o.path}: its files are changed in place on the host ("extends": "${name}" keeps it)` });
      continue;
    }
    for (const { def, key, value, m, at } of chain.slice(kept + 1)) {
      if (!WRITES.has(key) || m?.source === undefined) continue;
      const src = hostPath(m.source, at);
      if (within(src, o.path) || within(o.path, src)) found.push({ key: `profiles.${def.name}.${key}`, value, what: `writes ${o.path} on the host, which the built-in ${name} overlays` });
    }
  }
  return found;
}
