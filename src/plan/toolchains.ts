// Toolchains installed in $HOME: the caller's PATH directories below it, the runtime nsbox runs
// on, and what they need to run, shared read-only; never $HOME itself, a broad directory or the
// credentials files beside them.
import { lstatSync, readdirSync, readlinkSync, realpathSync, type BigIntStats, type Stats } from "node:fs";
import { smallFileText } from "../small-file.ts";
import { basename, dirname, join, resolve } from "node:path";
import type { Host } from "../host.ts";
import { NsboxError } from "../errors.ts";
import { isAncestorOrSelf, type PlanBuilder } from "./builder.ts";
import { looksSecret, SECRET_VALUES } from "./env.ts";
import { identity } from "./host-path.ts";
import { mountOps } from "./mounts.ts";

/**
 * Directories below $HOME that hold many tools' files, or the user's own (configuration, caches,
 * documents): never shared whole; a share is the narrowest directory below one that a tool owns.
 */
const BROAD = ["", ".local", ".local/share", ".local/state", ".local/lib", ".local/opt", ".config", ".cache", ".var", ".var/app"];

/**
 * Directories below $HOME that hold keys, tokens, agents' sockets or browser profiles: nothing in
 * them is shared, and no symlink is followed into them, whatever the PATH says.
 */
const SECRET_DIRS = [
  ".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".password-store", ".pki", ".mozilla", ".thunderbird",
  ".local/share/keyrings", ".local/share/kwalletd", ".local/share/gnupg", ".local/share/password-store", ".config/gh", ".config/gcloud",
];

/**
 * Credentials files that their names don't give away to the environment's secret rules
 * (env.ts looksSecret, which catches `credentials.toml`, `.git-credentials`, `.netrc`, `token`).
 */
const SECRET_FILES = new Set([".npmrc", "npmrc", ".pypirc", ".pgpass", ".yarnrc", ".yarnrc.yml", ".bunfig.toml", "hosts.yml", "gradle.properties", "settings-security.xml", ".my.cnf"]);

/**
 * A line of a configuration file that sets a credential, whatever the file is called (flyctl's
 * ~/.fly/config.yml `access_token:`, wasmer's ~/.wasmer/wasmer.toml `token =`, cabal's
 * ~/.cabal/config `password:`, an `[env]` GITHUB_TOKEN in mise's config): a key ending in one of
 * these words, then `=` or `:` and a value.
 */
const CREDENTIAL_LINE = /^[ \t]*["']?[\w.-]*(token|password|passwd|secret|api_?key|credentials?)["']?[ \t]*[:=][ \t]*[^\s#;]/im;
/** A URL with a password in it (`DATABASE_URL=postgres://app:pw@db/app` in a checkout's .env, git's stored credentials). */
const URL_PASSWORD = /[a-z][a-z0-9+.-]*:\/\/[^\s\/?#@:]+:[^\s\/?#@]+@/i;
/** A file is read for CREDENTIAL_LINE and SECRET_VALUES up to this size (configuration files are small; larger ones are data). */
const MAX_SCANNED = 64 * 1024;

/**
 * Whether the file at `path` holds a credential by its content: a regular, non-executable file
 * of at most MAX_SCANNED bytes, opened without following a link, with a CREDENTIAL_LINE, a
 * URL_PASSWORD or a value the environment's scrub drops (env.ts SECRET_VALUES). Costs one read per top-level file
 * of a share.
 */
function holdsSecret(path: string): boolean {
  const text = smallFileText(path, { max: MAX_SCANNED, accept: (st) => (st.mode & 0o111 ? "an executable" : undefined) }, "latin1");
  return text !== undefined && (CREDENTIAL_LINE.test(text) || URL_PASSWORD.test(text) || SECRET_VALUES.some((r) => r.value!.test(text)));
}

/** Files below a share's root checked by name besides its own entries: npm's global config in a Node prefix. */
const NESTED_SECRETS = ["etc/npmrc"];

/**
 * Install prefixes (`PREFIX/bin` on PATH) that also hold a download cache: only their bin is
 * shared (a read-only cache makes `bun install`, `cargo fetch` and `go get` fail where an empty
 * one in the private $HOME works), with the part that the bin's links lead into.
 */
function cacheHolding(host: Host): Record<string, string[]> {
  const h = (p: string) => join(host.home, p);
  return {
    [host.env.BUN_INSTALL || h(".bun")]: ["install/global"],
    [host.env.CARGO_HOME || h(".cargo")]: [],
    [host.env.GOPATH?.split(":")[0] || h("go")]: [],
  };
}

/** What a manager's shims need besides their own directory: rustup's toolchains, mise's and asdf's version choices. */
function shimData(host: Host): Array<{ when: string; also: string[]; what: string }> {
  const h = (p: string) => join(host.home, p);
  const data = host.env.XDG_DATA_HOME || h(".local/share");
  const config = host.env.XDG_CONFIG_HOME || h(".config");
  return [
    { when: host.env.CARGO_HOME || h(".cargo"), also: [host.env.RUSTUP_HOME || h(".rustup")], what: "rustup's toolchains, which cargo's proxies run" },
    { when: host.env.MISE_DATA_DIR || join(data, "mise"), also: [host.env.MISE_CONFIG_DIR || join(config, "mise"), h(".tool-versions")], what: "mise's global configuration, which its shims read" },
    { when: host.env.ASDF_DATA_DIR || h(".asdf"), also: [h(".tool-versions"), h(".asdfrc")], what: "asdf's global versions, which its shims read" },
  ];
}

/** One share, with why: shown by --verbose and --dry-run --json. */
export interface ToolShare {
  path: string;
  isDir: boolean;
  /** Its identity when checked (host-path.ts identity). */
  id: string;
  /** For an install prefix: the PATH directory in it, shared instead when the prefix would cover a share placed before (a project in it). */
  narrow?: ToolShare;
  reason: string;
}

/** A resolved host path and the symlinks below $HOME it went through (each placed again inside). */
interface Followed {
  path: string;
  st: Stats;
  links: Array<{ at: string; target: string }>;
}

const MAX_LINKS = 40;

/**
 * Resolve `path` component by component, following symlinks that `trusted` accepts (the user's
 * own: see linkTrusted), and note each one below `home`; undefined when it does not lead to an
 * existing file or meets a link not trusted. The result
 * is only a candidate: every share is checked (owner, mode, place) and bound by its real path,
 * held by identity from the plan to the mount (builder.ts bind), so a link changed meanwhile
 * makes the run fail, never shows something else.
 */
function follow(path: string, home: string, trusted: (at: string, st: Stats) => boolean): Followed | undefined {
  const todo = path.split("/").filter(Boolean);
  const links: Followed["links"] = [];
  let at = "/";
  let hops = 0;
  let st: Stats = lstatSync("/");
  try {
    while (todo.length > 0) {
      const part = todo.shift()!;
      if (part === ".") continue;
      if (part === "..") {
        at = dirname(at);
        continue;
      }
      const next = at === "/" ? `/${part}` : `${at}/${part}`;
      st = lstatSync(next);
      if (st.isSymbolicLink()) {
        if (++hops > MAX_LINKS || !trusted(next, st)) return undefined;
        const target = readlinkSync(next);
        if (isAncestorOrSelf(home, next)) links.push({ at: next, target });
        if (target.startsWith("/")) at = "/";
        todo.unshift(...target.split("/").filter(Boolean));
        continue;
      }
      if (todo.length > 0 && !st.isDirectory()) return undefined;
      at = next;
    }
    return { path: at, st: lstatSync(at), links };
  } catch {
    return undefined;
  }
}

/**
 * Whether the symlink at `at` (its lstat `st`) is followed on the way to a toolchain. The PATH is
 * the user's, but the links on its way are not all theirs: a checkout's (a project's `bin` on
 * PATH, which the project or a payload with a writable share made a link to ~/.config/chromium)
 * would make nsbox share whatever the project names. So a link is followed only where the user's
 * own tools put links: directly in $HOME (~/bin -> dotfiles), or below one of its dot-directories
 * or ~/bin, and never inside a place the sandbox already shows (`shown`: a project in ~/.dotfiles);
 * outside $HOME, only a link owned by the user or root (not one another user put in /tmp).
 */
function linkTrusted(at: string, st: Stats, home: string, uid: number, shown: (path: string) => boolean): boolean {
  if (!isAncestorOrSelf(home, at)) return st.uid === uid || st.uid === 0;
  if (shown(at)) return false;
  const rel = at.slice(home.length + 1);
  const first = rel.split("/")[0]!;
  return !rel.includes("/") || first.startsWith(".") || first === "bin";
}

/** A file or directory name as the environment's rules see a variable name (`.git-credentials` → GIT_CREDENTIALS). */
function secretName(name: string): boolean {
  return SECRET_FILES.has(name) || looksSecret(name.replace(/^\.+/, "").replace(/[^A-Za-z0-9]+/g, "_").toUpperCase());
}

/** Why `path` below `home` is not to be shared, if it is not (the reason is for reading the code; nothing prints it). */
function refusal(path: string, home: string, st: BigIntStats, uid: number): string | undefined {
  if (!isAncestorOrSelf(home, path)) return "it is outside your home";
  const rel = path === home ? "" : path.slice(home.length + 1);
  if (BROAD.includes(rel)) return rel === "" ? "it is your home directory" : `~/${rel} holds many tools' files and your own`;
  if (SECRET_DIRS.some((d) => isAncestorOrSelf(d, rel))) return "it holds keys or tokens";
  const secret = rel.split("/").find(secretName);
  if (secret) return `${secret} looks like a credential`;
  // Another user's, or writable by others: someone else could have put what runs there.
  if (st.uid !== BigInt(uid)) return `it belongs to uid ${st.uid}, not you`;
  if (st.mode & 0o002n) return "others can write to it";
  return undefined;
}

/** The narrowest directory a tool owns that holds `path`: its first component below the broad ones. */
function toolDir(path: string, home: string): string {
  const parts = path.slice(home.length + 1).split("/");
  let n = 1;
  while (n < parts.length && BROAD.includes(parts.slice(0, n).join("/"))) n++;
  return join(home, ...parts.slice(0, n));
}

/** The real path of the runtime nsbox runs on (Bun). */
export function runtimePath(): string {
  try {
    return realpathSync(process.execPath);
  } catch {
    return process.execPath;
  }
}

const tilde = (path: string, home: string) => (path === home ? "~" : isAncestorOrSelf(home, path) ? `~/${path.slice(home.length + 1)}` : path);

/**
 * Decide what to share: each PATH directory below $HOME as its install prefix (`P/bin` → `P`,
 * unless P is broad or holds a download cache), the places its links lead into (the narrowest
 * tool-owned directory holding an executable they name, only in $HOME's dot-directories, never
 * in ~/.config or a secret directory), what a manager's shims read, and the runtime nsbox runs
 * on. `runtime` is that runtime's real path. Costs a few stats per PATH directory below $HOME and
 * one listing of it; no tree is walked.
 */
export function planHomeTools(host: Host, runtime: string, shown: (path: string) => boolean = () => false): { shares: ToolShare[]; links: Array<{ at: string; target: string }>; path: string[] } {
  const home = host.home;
  const trusted = (at: string, st: Stats) => linkTrusted(at, st, home, host.uid, shown);
  const shares = new Map<string, ToolShare>();
  const links: Array<{ at: string; target: string }> = [];
  const pathAdd: string[] = [];
  if (home === "/") return { shares: [], links, path: pathAdd };
  const cacheHolders = cacheHolding(host);

  const add = (path: string, reason: string, narrow?: string): boolean => {
    let st: BigIntStats;
    try {
      st = lstatSync(path, { bigint: true });
    } catch {
      return false;
    }
    if (refusal(path, home, st, host.uid) || !(st.isDirectory() || st.isFile()) || (st.isFile() && holdsSecret(path))) return false;
    if (!shares.has(path)) shares.set(path, { path, isDir: st.isDirectory(), id: identity(st), reason });
    if (narrow && add(narrow, reason)) shares.get(path)!.narrow = shares.get(narrow);
    shares.delete(narrow ?? "");
    return true;
  };

  /** A PATH directory (as written) and what it needs. */
  const pathDir = (entry: string, why: string): string | undefined => {
    const found = follow(entry, home, trusted);
    if (!found || !found.st.isDirectory() || !isAncestorOrSelf(home, found.path)) return undefined;
    const real = found.path;
    const parent = dirname(real);
    const holder = cacheHolders[parent];
    const prefix = ["bin", "sbin", "shims"].includes(basename(real)) && !BROAD.includes(parent.slice(home.length + 1)) && parent !== home && holder === undefined ? parent : real;
    if (!add(prefix, why, prefix === real ? undefined : real) && (prefix === real || !add(real, why))) return undefined;
    for (const sub of holder ?? []) add(join(parent, sub), `${why}: what its links lead into`);
    links.push(...found.links);
    for (const { when, also, what } of shimData(host)) {
      if (prefix === when || parent === when) for (const p of also) add(p, what);
    }
    // Links are followed only from your tools' own directories (~/.local/bin, ~/bin, ~/.bun/bin…),
    // not from a checkout on PATH (~/src/app/node_modules/.bin), whose links its packages wrote.
    const first = real.slice(home.length + 1).split("/")[0]!;
    if (first.startsWith(".") || first === "bin") linksOut(real, why);
    return real;
  };

  /** Executables the directory's links lead to elsewhere below $HOME (~/.local/bin/x → ~/.local/share/x/bin/x). */
  const linksOut = (dir: string, why: string) => {
    let names: string[] = [];
    try {
      names = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isSymbolicLink()).slice(0, 4096).map((d) => d.name);
    } catch {}
    for (const name of names) {
      let target: string;
      try {
        target = readlinkSync(join(dir, name));
      } catch {
        continue;
      }
      if (!target.includes("/")) continue; // bunx -> bun: beside it
      const abs = resolve(dir, target);
      if ([...shares.keys()].some((s) => isAncestorOrSelf(s, abs))) continue;
      const found = follow(join(dir, name), home, trusted);
      if (!found || !isAncestorOrSelf(home, found.path) || [...shares.keys()].some((s) => isAncestorOrSelf(s, found.path))) continue;
      // Only an executable, in a dot-directory of $HOME (the tools' own places), never in ~/.config.
      const owner = toolDir(found.path, home);
      const rel = owner.slice(home.length + 1);
      if (!found.st.isFile() || !(found.st.mode & 0o111) || !rel.startsWith(".") || rel.startsWith(".config/") || rel.startsWith(".cache/")) continue;
      add(owner, `${tilde(join(dir, name), home)} leads into it (${why})`);
      links.push(...found.links.filter((l) => l.at !== join(dir, name)));
    }
  };

  const entries = (host.env.PATH ?? "").split(":").filter((e) => e.startsWith("/"));
  for (const entry of new Set(entries)) {
    const at = resolve(entry);
    if (!isAncestorOrSelf(home, at)) continue;
    // `~` on PATH: $HOME itself is never shared (add refuses it too).
    if (at !== home) pathDir(at, `${tilde(at, home)} is on your PATH`);
  }

  // The runtime nsbox runs on (`bunx nsbox` leaves Bun in ~/.bun/bin or ~/.npm/_npx/…): visible,
  // and on PATH, so the shell it opens has `bun`.
  if (isAncestorOrSelf(home, runtime)) {
    const why = `the Bun nsbox runs on (${tilde(runtime, home)})`;
    const nm = /^(.*\/node_modules)\/((?:@[^/]+\/)?[^/]+)\//.exec(runtime);
    if (nm) {
      add(join(nm[1]!, nm[2]!), why);
      const bin = join(nm[1]!, ".bin");
      if (follow(join(bin, "bun"), home, trusted)?.path === runtime && add(bin, why)) pathAdd.push(bin);
      // @oven/bun-linux-x64/bin/bun, run by the bun package's launcher when its install script did not copy it.
      else if (basename(runtime) === "bun") pathAdd.push(dirname(runtime));
    } else if (pathDir(dirname(runtime), why) && basename(runtime) === "bun") pathAdd.push(dirname(runtime));
  }
  if (basename(runtime) === "bun" && !isAncestorOrSelf(home, runtime)) pathAdd.push(dirname(runtime));

  // A share inside another is covered by it.
  const all = [...shares.values()];
  const kept = all.filter((s) => !all.some((o) => o !== s && o.isDir && isAncestorOrSelf(o.path, s.path)));
  const onPath = new Set(entries.map((e) => resolve(e)));
  return { shares: kept, links, path: pathAdd.filter((p) => !onPath.has(p)) };
}

/**
 * Add the shares to the plan, read-only, after the default view and before the user's options
 * (so `--ro`, `--rw` and `--hide` of the same path win), each with its credentials files hidden.
 * A share that would cover a mount already placed (a project in ~/go/src under the shared ~/go)
 * is narrowed to the PATH directory, or left out. Returns the PATH inside when it changes.
 */
export function homeToolOps(b: PlanBuilder, host: Host, runtime = runtimePath()): string | undefined {
  // A link in a place the sandbox already shows (the project) is the project's, not the user's.
  const plan = planHomeTools(host, runtime, (p) => b.coverAt(dirname(p)).host !== undefined && isAncestorOrSelf(host.home, p));
  const option = "--home-tools";
  for (const wide of plan.shares) {
    // It would cover a share placed before it (a project in ~/code with ~/code/bin on PATH): its PATH directory only.
    const s = b.mountsBelow(wide.path) && wide.narrow ? wide.narrow : wide;
    const shown = tilde(s.path, host.home);
    const cover = b.coverAt(s.path);
    // Visible already (inside the shared project), or it would still cover a share.
    if (cover.host === s.path || b.mountsBelow(s.path)) continue;
    const why = { what: `share ${shown} read-only: ${s.reason}`, option, path: s.path };
    try {
      b.bind(s.path, s.path, { readOnly: true, isDir: s.isDir, why });
    } catch (e) {
      // Gone or replaced by a symlink since it was looked at: left out, as a missing one is.
      if (!(e instanceof NsboxError)) throw e;
      continue;
    }
    // The bind holds what its own walk found; that must be the file checked above (owner, mode).
    const bound = b.ops.at(-1);
    if (bound?.op === "BIND" && bound.identity !== s.id) throw new NsboxError("KERNEL_REFUSED", `${s.path} changed while nsbox was starting; run again`, { option, path: s.path });
    if (s.isDir) hideSecrets(b, host, s.path);
  }
  for (const l of plan.links) {
    if (b.kindAt(l.at) !== "missing" || b.coverAt(dirname(l.at)).host !== undefined) continue;
    try {
      b.symlink(l.target, l.at, { what: `place the link ${tilde(l.at, host.home)} → ${l.target} (on your PATH's way to a toolchain)`, option, path: l.at });
    } catch (e) {
      if (!(e instanceof NsboxError)) throw e;
    }
  }
  if (plan.path.length === 0) return undefined;
  return [...(host.env.PATH ?? "").split(":").filter(Boolean), ...plan.path].join(":");
}

/**
 * The Unix sockets and FIFOs in a share, at its top or one directory down (Rancher Desktop's
 * ~/.rd/docker.sock beside ~/.rd/bin, colima's ~/.colima/default/docker.sock), as paths relative
 * to it: a read-only mount does not stop connect(2) or a write to a FIFO, so each is hidden behind
 * an empty file, or the share would be a way to a server of the user's (a Docker daemon, an agent).
 * Deeper ones stay reachable; at most 256 directories are listed and 64 found.
 */
function endpoints(root: string): string[] {
  const found: string[] = [];
  const list = (rel: string) => {
    try {
      return readdirSync(join(root, rel), { withFileTypes: true }).slice(0, 4096);
    } catch {
      return [];
    }
  };
  const top = list("");
  const subdirs = top.filter((d) => d.isDirectory()).slice(0, 256).map((d) => d.name);
  for (const [rel, entries] of [["", top] as const, ...subdirs.map((d) => [d, list(d)] as const)]) {
    for (const d of entries) if (d.isSocket() || d.isFIFO()) found.push(rel ? `${rel}/${d.name}` : d.name);
  }
  return found.slice(0, 64);
}

/**
 * The credentials files a share holds at its top (or in etc/npmrc), by name or by content
 * (holdsSecret), hidden behind empty ones. Deeper files are checked by name only when the PATH
 * leads through them (refusal): a token kept deeper in a tool's directory is shared.
 */
function hideSecrets(b: PlanBuilder, host: Host, root: string): void {
  let names: string[] = [];
  try {
    names = readdirSync(root, { withFileTypes: true })
      .slice(0, 1024)
      .filter((d) => secretName(d.name) || (d.isFile() && holdsSecret(join(root, d.name))))
      .map((d) => d.name)
      .slice(0, 64);
  } catch {}
  const specs = [...names, ...NESTED_SECRETS, ...endpoints(root)]
    .map((rel) => join(root, rel))
    .filter((p) => b.kindAt(p) === "file" || b.kindAt(p) === "dir")
    .map((p) => ({ kind: "hide" as const, target: p, optional: true, origin: `--home-tools: hide ${tilde(p, host.home)} (credentials or a socket beside your tools)`, option: "--home-tools" }));
  mountOps(b, specs, host);
}
