// Files in a writable share that the host runs later (git's config and hooks, direnv, editor
// tasks, hook managers): read-only inside, and the ones that do not exist yet moved aside after
// the run if the sandbox made them.
import { chmodSync, closeSync, constants, type Dirent, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, renameSync, type Stats } from "node:fs";
import { basename, dirname, join, normalize, resolve } from "node:path";
import type { Purpose } from "../ops.ts";
import { NsboxError } from "../errors.ts";
import { outOfDescriptors, tooFewDescriptors } from "../errno.ts";
import { isAncestorOrSelf, type PlanBuilder } from "./builder.ts";
import type { MountSpec } from "./mount-spec.ts";
import { expandPath } from "./host-path.ts";
import type { Host } from "../host.ts";
import { configDir } from "../trust.ts";
import { ownPackages } from "../packages.ts";

/** A path, relative to the root of a writable share, that the host's tools run or obey. */
export interface ProtectedPath {
  path: string;
  reason: string;
  /** Watched even when a directory on the way is missing (a new `.config/mise.toml` is read at once). */
  missingParents?: boolean;
}

/**
 * The one list. Each entry is read-only inside every writable share (the current directory,
 * `--rw`, `--bind`) when it exists, and moved aside after the run when the sandbox created or
 * replaced it. `--rw PATH` (or `--rw-try PATH` for one that does not exist yet) naming the
 * path or a directory between it and the share's root opens it.
 *
 * Not listed, on purpose: `package.json`, `Makefile`, `pyproject.toml` and the project's other
 * build files (writing them is what builds and installs do; README "Residual risks"), `.env`
 * (the project's own data: only tools the project runs read it, unless `.envrc` has direnv
 * read it: Collector.envrcFiles), `.gitmodules` (git refuses
 * `update = !command` and unsafe URL schemes from it), `.nvmrc` and `.node-version` (a version
 * number, nothing to run).
 */
export const PROTECTED: readonly ProtectedPath[] = [
  { path: ".git", reason: "git's directory (config, hooks, see GIT_DIR_PROTECTED); a .git file names the directory git uses (gitdir:), a new one makes git use the sandbox's config" },
  { path: ".hg/hgrc", reason: "Mercurial's [hooks] and [extensions] run commands and load Python on the next hg command" },
  { path: ".envrc", reason: "direnv runs it in your shell when you enter the directory" },
  { path: ".rvmrc", reason: "RVM sources it in your shell when you enter the directory" },
  { path: ".direnv", reason: "direnv's layouts put .direnv/*/bin on your PATH" },
  { path: ".vscode", reason: "VS Code tasks (runOn: folderOpen), launch configurations, settings that name programs to run" },
  { path: ".idea", reason: "JetBrains run configurations, startup tasks and external tools" },
  { path: ".zed", reason: "Zed tasks and settings that name programs to run" },
  { path: ".devcontainer", reason: "initializeCommand runs on the host when the dev container is opened" },
  { path: ".devcontainer.json", reason: "initializeCommand runs on the host when the dev container is opened" },
  { path: ".claude", reason: "Claude Code hooks and settings run commands on the host" },
  { path: ".mcp.json", reason: "MCP servers are commands an agent starts on the host" },
  { path: ".cursor", reason: "Cursor's MCP servers and rules" },
  { path: ".exrc", reason: "vim and neovim run it with 'exrc' set" },
  { path: ".nvim.lua", reason: "neovim runs it with 'exrc' set" },
  { path: ".nvimrc", reason: "neovim runs it with 'exrc' set" },
  { path: ".vimrc", reason: "vim runs it with 'exrc' set" },
  { path: ".dir-locals.el", reason: "Emacs evaluates its eval: forms once they are marked safe" },
  { path: ".husky", reason: "husky's hooks: core.hooksPath names .husky/_, whose hooks run the scripts in .husky" },
  { path: ".pre-commit-config.yaml", reason: "pre-commit (installed in .git/hooks) runs its local hooks' entry commands" },
  { path: "lefthook.yml", reason: "lefthook (installed in .git/hooks) runs its commands" },
  { path: ".lefthook.yml", reason: "lefthook (installed in .git/hooks) runs its commands" },
  { path: "lefthook-local.yml", reason: "lefthook (installed in .git/hooks) runs its commands" },
  { path: ".overcommit.yml", reason: "overcommit (installed in .git/hooks) runs its hooks" },
  { path: "mise.toml", reason: "mise runs its hooks, tasks and env._.source once the file is trusted (trust is by path)" },
  { path: ".mise.toml", reason: "mise: as mise.toml" },
  { path: "mise.local.toml", reason: "mise: as mise.toml" },
  { path: ".mise.local.toml", reason: "mise: as mise.toml" },
  { path: ".config/mise.toml", reason: "mise: as mise.toml (a project's .config/)", missingParents: true },
  { path: ".config/mise", reason: "mise's config directory (config.toml, conf.d/*.toml): as mise.toml", missingParents: true },
  { path: "mise/config.toml", reason: "mise: as mise.toml", missingParents: true },
  { path: ".mise", reason: "mise's config directory (.mise/config.toml): as mise.toml" },
  { path: ".tool-versions", reason: "asdf and mise: a path: version puts that directory's bin on your PATH" },
  { path: ".npmrc", reason: "npm obeys the project's .npmrc on the next host install even with --ignore-scripts (git=, script-shell=, node-options=)" },
  { path: ".yarnrc", reason: "yarn 1 runs yarn-path for every yarn command" },
  { path: ".yarnrc.yml", reason: "yarn 2+ runs yarnPath and loads plugins for every yarn command" },
  { path: ".yarn/releases", reason: "the yarn that .yarnrc.yml's yarnPath runs" },
  { path: ".yarn/plugins", reason: "plugins .yarnrc.yml loads into every yarn command" },
  { path: ".pnpmfile.cjs", reason: "pnpm runs its hooks on every install, even with --ignore-scripts" },
  { path: "bunfig.toml", reason: "bun runs its preload scripts on the next bun run or bun test" },
  { path: "nsbox.json", reason: "nsbox's own profiles for this project" },
];

/**
 * nsbox's own files, wherever this copy of nsbox is: what its next start loads (its sources, its
 * build, its bin and the link to it, its configuration for Bun, the packages it imports, the
 * build script `bun install` runs through package.json's `prepare`). Guarded like PROTECTED when
 * a writable share holds them, e.g. `nsbox -- bash` run from nsbox's checkout. Worked out at the
 * first plan, not at load; ownPackages() resolves the packages' entry files then too, before any
 * sandbox of this process starts (src/packages.ts).
 */
let ownCode: readonly string[] | undefined;
function ownCodePaths(): readonly string[] {
  if (ownCode) return ownCode;
  const { root: pkg, consola, dnsPacket, ipCodec } = ownPackages();
  // node/: what Node loads for import "nsbox"; bun.lock(b): what `bun install` in the checkout installs.
  // The .env files `bun install` and `bun run` read there into what they start (LD_PRELOAD=).
  const dotenv = ["", ".local", ".development", ".development.local", ".production", ".production.local", ".test", ".test.local"].map((e) => `.env${e}`);
  const own = ["bin", "src", "dist", "node", "package.json", "tsconfig.json", "bunfig.toml", "bun.lock", "bun.lockb", "node_modules", "scripts/build.ts", ...dotenv].map((e) => join(pkg, e));
  // A project-local install: node_modules/.bin/nsbox is the link the shell runs.
  if (pkg.endsWith("/node_modules/nsbox")) own.push(join(pkg, "..", ".bin", "nsbox"));
  // The isolated layout (pnpm; bun install --linker isolated): nsbox really is in
  // PROJECT/node_modules/.pnpm/nsbox@VER/node_modules/nsbox (or .bun/), and the project's
  // node_modules/nsbox is a link to it, node_modules/.bin/nsbox a link or shim the shell runs.
  const isolated = /^(.*)\/node_modules\/\.(?:pnpm|bun)\/[^/]+\/node_modules\/nsbox$/.exec(pkg);
  // Its whole store entry too: the links beside it there (node_modules/consola, dns-packet) are
  // what it loads by, and a payload replaced them with its own packages.
  if (isolated) own.push(join(isolated[1]!, "node_modules", "nsbox"), join(isolated[1]!, "node_modules", ".bin", "nsbox"), storeEntry(pkg)!);
  // The packages it loads, wherever they were installed (hoisted beside a project-local nsbox):
  // consola; dns-packet and its one dependency.
  for (const dir of [consola?.dir, dnsPacket?.dir, ipCodec]) if (dir) own.push(storeEntry(dir) ?? dir);
  return (ownCode = own);
}

/**
 * In the isolated layout a package lives in a store entry, STORE/NAME@VER/node_modules/NAME, and
 * finds its dependencies through links beside it (STORE/NAME@VER/node_modules/DEP): guarding the
 * package's directory alone left those links replaceable (dns-packet requires ip-codec by name
 * while a sandbox runs). The whole entry, `PROJECT/node_modules/.bun/NAME@VER` (or .pnpm/), then.
 */
function storeEntry(dir: string): string | undefined {
  return /^(.*\/node_modules\/\.(?:pnpm|bun)\/[^/]+)\/node_modules\/(?:@[^/]+\/)?[^/]+$/.exec(dir)?.[1];
}

/** `path` with symlinks resolved as far as it exists (`~/.config/nsbox` when only ~/.config -> dotfiles/config does). */
function realpathOfMissing(path: string): string {
  const rest: string[] = [];
  for (let at = normalize(path); ; at = dirname(at)) {
    try {
      return join(realpathSync(at), ...rest);
    } catch {
      if (at === "/" || at === ".") return path;
      rest.unshift(basename(at));
    }
  }
}

/** Inside every git directory (.git, .git/modules/NAME, .git/worktrees/NAME): what git obeys. */
export const GIT_DIR_PROTECTED: readonly ProtectedPath[] = [
  { path: "config", reason: "core.fsmonitor, core.hooksPath, core.sshCommand, core.pager, aliases, filters, diff and merge drivers, credential helpers, include.path: commands git runs" },
  { path: "hooks", reason: "the hooks git runs on commit, checkout, merge, rebase, push" },
  { path: "commondir", reason: "names the directory whose config and hooks git uses" },
  { path: "config.worktree", reason: "per-worktree config (extensions.worktreeConfig): as config" },
];

/**
 * A directory nsbox holds open from before the run to after it. Names in it that appeared, or
 * whose identity (device and inode) changed, are moved aside once the sandbox has ended.
 */
export interface Watch {
  /** The host directory. */
  dir: string;
  /** Where it is inside the sandbox. */
  at: string;
  /** Its identity when planned, "dev:ino". */
  id: string;
  /** The root of the share it belongs to (host path), for --rw-try opt-ins. */
  root: string;
  /** name → its identity when planned ("" when it did not exist). */
  names: Record<string, string>;
  /** A share's root: a `.git` in any of its directories, new ones included, is watched too. */
  childGit?: boolean;
  /** With childGit: the host paths the user opened (`--rw-try sub`), where a new `.git` stays. */
  opened?: string[];
}

const idOf = (st: Stats) => `${st.dev}:${st.ino}`;
/**
 * A name's identity: device, inode and change time in nanoseconds. The inode alone is not
 * enough: a name removed and made again usually gets the inode just freed.
 */
function nameId(path: string): string | undefined | null {
  try {
    const st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    return st && `${st.dev}:${st.ino}:${st.ctimeNs}`;
  } catch (e) {
    // Absent; null: there, maybe, but out of nsbox's reach (EACCES), which is not absent.
    const code = (e as NodeJS.ErrnoException).code;
    return code === "ENOENT" || code === "ENOTDIR" ? undefined : null;
  }
}

/**
 * A small file of the share (a git config, a `.git` file), read as data: the payload may have
 * swapped a FIFO in after `look` saw a file (a blocking read held nsbox for good) or grown it to
 * gigabytes. Opened without following or blocking, only a regular file, at most `max` bytes.
 */
function readSmall(path: string, max = 1 << 20): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return "";
    // Sized by the file, grown if it grows: a 1 MiB buffer for each git config cost ten times the read.
    let buf = Buffer.allocUnsafe(Math.min(max, Math.max(4096, st.size + 1)));
    let n = 0;
    for (let got; n < max; n += got) {
      if (n === buf.length) buf = Buffer.concat([buf], Math.min(max, buf.length * 4));
      if ((got = readSync(fd, buf, n, buf.length - n, null)) <= 0) break;
    }
    return buf.toString("utf8", 0, n);
  } finally {
    closeSync(fd);
  }
}

// throwIfNoEntry: a missing name, the usual answer here, costs no exception.
function look(path: string): Stats | undefined {
  try {
    return lstatSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/**
 * Keys whose value is a command git runs ("section.name", the subsection left out): when its
 * program is a file of the project (`./scripts/clean.sh`), that file is guarded too.
 */
const GIT_COMMAND_KEYS = /^(core\.(fsmonitor|sshcommand|pager|editor|askpass|hookspath|gitproxy|alternaterefscommand)|sequence\.editor|filter\.(clean|smudge|process)|diff\.(textconv|command|external)|merge\.driver|(difftool|mergetool|browser|man)\.(cmd|path)|pager\..*|interactive\.difffilter|remote\.(uploadpack|receivepack|vcs)|credential\.helper|gpg\.(program|defaultkeycommand)|alias\..*)$/;

/**
 * The values of `keys` ("section.name", lower case; or a pattern) in a git config file; nothing
 * when unreadable. `texts`: the files read so far for the same share, each read once (a
 * repository's config is asked for three sets of keys, your global ones for each repository).
 */
function gitConfigValues(file: string, keys: string[] | RegExp, texts: Map<string, string | undefined>): { key: string; value: string }[] {
  if (!texts.has(file)) {
    let read: string | undefined;
    try {
      if (look(file)?.isFile()) read = readSmall(file);
    } catch {}
    texts.set(file, read);
  }
  const text = texts.get(file);
  if (text === undefined) return [];
  const found: { key: string; value: string }[] = [];
  let section = "";
  for (const raw of text.split("\n")) {
    let line = raw.trim();
    const head = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"(?:[^"\\]|\\.)*")?\s*\]/.exec(line);
    if (head) {
      section = head[1]!.toLowerCase();
      line = line.slice(head[0].length).trim(); // `[core] hooksPath = x` on one line is valid too
    }
    const kv = /^([A-Za-z][A-Za-z0-9-]*)\s*=\s*(.*)$/.exec(line);
    if (!kv) continue;
    const key = `${section}.${kv[1]!.toLowerCase()}`;
    if (Array.isArray(keys) ? !keys.includes(key) : !keys.test(key)) continue;
    let value = kv[2]!.replace(/\s[#;].*$/, "").trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    found.push({ key, value: value.replace(/\\(.)/g, "$1") });
  }
  return found;
}

type Action = { rel: string; kind: "ro" | "pin"; isDir: boolean };

/** Collects, for one share, what to bind read-only, which directories to pin, and what to watch. */
class Collector {
  readonly actions = new Map<string, Action>();
  readonly watched = new Map<string, Record<string, string>>();
  /** `DIR/.git` → its identity, for every directory at the share's root (see childRepositories). */
  readonly children: Record<string, string> = {};
  /** Git config files read for this share, by path (undefined: not a readable regular file). */
  private readonly configs = new Map<string, string | undefined>();

  constructor(readonly root: string, readonly host: Host) {}

  /**
   * The share's root, listed once (null: it cannot be listed). A name not in it is missing, and
   * so is every path below it: the protected names, mise's configs and `.envrc` that are not
   * there, most of them, cost no lookup of their own (an lstat or a failed open each).
   */
  private listing?: Dirent[] | null;
  private names?: Set<string>;
  private entries(): Dirent[] | null {
    if (this.listing === undefined) {
      try {
        this.listing = readdirSync(this.root, { withFileTypes: true });
      } catch {
        this.listing = null;
      }
    }
    return this.listing;
  }

  /** Whether `rel` is missing for certain: its first name is not in the root's listing. */
  private absent(rel: string): boolean {
    const list = this.entries();
    if (list === null || rel === "") return false;
    this.names ??= new Set(list.map((d) => d.name));
    const slash = rel.indexOf("/");
    const first = slash < 0 ? rel : rel.slice(0, slash);
    // "/x", "./x", "../x": not a name of the listing, so looked up as before.
    return first !== "" && first !== "." && first !== ".." && !this.names.has(first);
  }

  /** `look` of `rel` in the share. */
  private look(rel: string): Stats | undefined {
    return this.absent(rel) ? undefined : look(this.abs(rel));
  }

  private abs(rel: string): string {
    return rel === "" ? this.root : join(this.root, rel);
  }

  /** Relative path of host `path` when it is inside this share. */
  /**
   * nsbox's own code when it lies in this share (its checkout, or a project-local install in
   * node_modules): the user's next nsbox run executes it, before any sandbox exists.
   */
  ownCode(): void {
    for (const path of ownCodePaths()) {
      const inner = this.inside(path);
      if (inner) this.path(inner);
      // The share is inside nsbox's own code (`nsbox -- sh` started in its src/, dist/, bin/): all
      // of it read-only. The names below it were never looked at (a share is not inside itself).
      else if (inner === "" || isAncestorOrSelf(path, this.root)) this.ro("", true);
    }
    // nsbox's trust store ($XDG_CONFIG_HOME/nsbox), where a share holds it (`--rw ~/dotfiles`
    // that ~/.config links into, an XDG_CONFIG_HOME of a project's): a payload that wrote it
    // would trust its own profiles for every later run, in every project.
    const inner = this.inside(realpathOfMissing(configDir()));
    if (inner) this.path(inner, 0, true);
  }

  private inside(path: string): string | undefined {
    const p = normalize(path);
    if (!isAncestorOrSelf(this.root, p)) return undefined;
    return p === this.root ? "" : p.slice(this.root.length + 1);
  }

  private ro(rel: string, isDir: boolean): void {
    this.actions.set(rel, { rel, kind: "ro", isDir });
    this.pinParents(rel);
  }

  /** Bound over itself (writable): a mount point cannot be renamed or removed inside, so the watch holds. */
  private pin(rel: string): void {
    if (!this.actions.has(rel)) this.actions.set(rel, { rel, kind: "pin", isDir: true });
    this.pinParents(rel);
  }

  /**
   * Every directory between a guarded path and the share's root is pinned too: renaming a
   * parent moves its mounts along (`mv tools tools2; mkdir -p tools/hooks`), and the name the
   * host's tool looks up would lead to a fresh, writable copy.
   */
  private pinParents(rel: string): void {
    const parts = rel.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if (!this.actions.has(parent)) this.actions.set(parent, { rel: parent, kind: "pin", isDir: true });
    }
  }

  private watch(dirRel: string, name: string, id: string): void {
    this.pin(dirRel);
    const names = this.watched.get(dirRel) ?? {};
    names[name] = id;
    this.watched.set(dirRel, names);
  }

  /**
   * Protect `rel` (which may not exist yet); `depth` bounds symlink chains. A missing directory
   * on the way is watched only with `missingParents` (a path git's own config names): a
   * `.yarn` a first `yarn install` creates is no reason to move it aside.
   */
  path(rel: string, depth = 0, missingParents = false): void {
    const parts = rel.split("/").filter(Boolean);
    let cur = "";
    for (const [i, part] of parts.entries()) {
      const p = cur ? `${cur}/${part}` : part;
      const st = this.look(p);
      if (!st) return i === parts.length - 1 || missingParents ? this.watch(cur, part, "") : undefined;
      if (st.isSymbolicLink()) {
        // The link itself can be replaced (its directory is writable), and what it points to,
        // when that is inside the share, is what the host's tool really reads.
        this.watch(cur, part, nameId(this.abs(p)) ?? "");
        if (depth < 4) {
          const inner = this.inside(this.linkTarget(p));
          // A dangling link names a file the payload could create: watched, missing parents too.
          if (inner) this.path([inner, ...parts.slice(i + 1)].join("/"), depth + 1, missingParents || !look(join(this.root, inner)));
        }
        return;
      }
      if (i === parts.length - 1) return this.ro(p, st.isDirectory());
      if (!st.isDirectory()) return;
      cur = p;
    }
  }

  /** Where the symlink at `rel` leads: resolved when it can be, else its target taken literally (a dangling link). */
  private linkTarget(rel: string): string {
    try {
      return realpathSync(this.abs(rel));
    } catch {}
    try {
      return resolve(dirname(this.abs(rel)), readlinkSync(this.abs(rel)));
    } catch {
      return "/";
    }
  }

  /**
   * The symlinks in a hooks directory (`.git/hooks/pre-commit -> ../../scripts/pre-commit`,
   * the usual way a project installs its hooks): the directory is read-only, but the script a
   * link names is what git runs, so it is guarded too.
   */
  private hookLinks(dirRel: string, depth: number): void {
    let names: string[] = [];
    try {
      names = readdirSync(this.abs(dirRel), { withFileTypes: true }).filter((d) => d.isSymbolicLink()).map((d) => d.name);
    } catch {}
    for (const n of names.slice(0, 100)) this.path(`${dirRel}/${n}`, depth + 1);
  }

  /**
   * The files `.envrc` has direnv read into your shell: `dotenv` (`.env` by default) exports
   * what it sets (`LD_PRELOAD=…`, `PATH=…`), `source_env` runs another file, and direnv's trust
   * covers `.envrc`'s content only, so a file it names, or a new one where it names one, is
   * guarded like `.envrc`.
   */
  envrcFiles(): void {
    const link = this.look(".envrc")?.isSymbolicLink() ? this.inside(this.linkTarget(".envrc")) : ".envrc";
    for (const raw of (link === undefined ? "" : this.read(link, 65536)).split("\n")) {
      // `use nix` / `use flake`: direnv evaluates the project's Nix files, whose shellHook runs in your shell.
      if (/^\s*use(?:\s+|_)(?:nix|flake)\b/.test(raw)) {
        for (const f of ["shell.nix", "default.nix", "flake.nix", "flake.lock"]) this.path(f, 1, true);
        continue;
      }
      // "$PWD/x", ${PWD}, $(pwd): the directory of .envrc, where direnv runs it.
      const line = raw.replace(/\$\{PWD\}\/|\$PWD\/|\$\(pwd\)\//g, "");
      const m = /^\s*(dotenv|dotenv_if_exists|source_env|source_env_if_exists)(?:\s+(?:"([^"$`]*)"|'([^']*)'|([^\s;#&|$`]+)))?\s*(?:[;#&|]|$)/.exec(line);
      if (!m) {
        // A file named by an expansion nsbox does not follow: every .env file here is guarded.
        if (/^\s*(dotenv|dotenv_if_exists|source_env|source_env_if_exists)\s/.test(line)) {
          for (const n of new Set([".env", ".env.local", ".envrc.local", ...(this.entries() ?? []).map((d) => d.name).filter((n) => n.startsWith(".env"))])) if (n !== ".envrc") this.path(n, 1, true);
        }
        continue;
      }
      const arg = m[2] ?? m[3] ?? m[4] ?? (m[1]!.startsWith("dotenv") ? ".env" : undefined);
      if (!arg) continue;
      const named = arg.startsWith("~/") ? join(this.host.home, arg.slice(2)) : resolve(this.root, arg);
      const inner = this.inside(look(named)?.isDirectory() && m[1]!.startsWith("source_env") ? join(named, ".envrc") : named);
      if (inner) this.path(inner, 1, true);
    }
  }

  /**
   * The files mise's config has it read into your shell: `env._.file` (dotenv files) and
   * `env._.source` (shell scripts it runs); the config is trusted once by path, what it names
   * is read afresh at every prompt.
   */
  miseFiles(): void {
    for (const config of ["mise.toml", ".mise.toml", "mise.local.toml", ".mise/config.toml", ".config/mise.toml", ".config/mise/config.toml"]) {
      let env: Record<string, unknown> | undefined;
      try {
        env = (Bun.TOML.parse(this.read(config, 65536)) as { env?: Record<string, unknown> }).env;
      } catch {}
      const dir = (env?.["_"] ?? {}) as Record<string, unknown>;
      for (const key of ["file", "source"]) {
        for (const item of [dir[key]].flat()) {
          const path = typeof item === "string" ? item : (item as { path?: unknown } | undefined)?.path;
          if (typeof path !== "string" || path.includes("{{") || path.includes("$")) continue;
          const inner = this.inside(path.startsWith("~/") ? join(this.host.home, path.slice(2)) : resolve(this.root, path));
          if (inner) this.path(inner, 1, true);
        }
      }
    }
  }

  /**
   * VS Code workspace files at the root (`app.code-workspace`): the one you reopen from the
   * recent list carries settings and tasks (runOn: folderOpen) as `.vscode` does.
   */
  workspaceFiles(): void {
    let names: string[] = [];
    try {
      names = (this.entries() ?? readdirSync(this.root, { withFileTypes: true })).map((d) => d.name).filter((n) => n.endsWith(".code-workspace"));
    } catch {}
    for (const n of names.slice(0, 100)) this.path(n);
  }

  /** A `.git` entry at `rel` (a directory, a gitdir: file, a symlink, or missing). */
  gitEntry(rel: string, depth = 0): void {
    const st = this.look(rel);
    if (st?.isSymbolicLink()) {
      // `.git -> elsewhere`: the link is watched, and a git directory it names inside the share guarded.
      const slash = rel.lastIndexOf("/");
      this.watch(slash < 0 ? "" : rel.slice(0, slash), rel.slice(slash + 1), nameId(this.abs(rel)) ?? "");
      let real: string | undefined;
      try {
        real = realpathSync(this.abs(rel));
      } catch {}
      const inner = real === undefined ? undefined : this.inside(real);
      if (inner && depth < 4) this.gitEntry(inner, depth + 1);
      return;
    }
    if (!st) return this.path(rel, depth);
    if (st.isDirectory()) return this.gitDir(rel, depth);
    this.ro(rel, false);
    const target = /^gitdir:\s*(.+?)\s*$/m.exec(this.read(rel))?.[1];
    const inner = target === undefined ? undefined : this.inside(resolve(this.abs(rel), "..", target));
    if (inner !== undefined && depth < 4) this.gitDir(inner, depth + 1);
  }

  /** The start of a regular file of the share, never through a symlink or from a FIFO or device. */
  private read(rel: string, max = 4096): string {
    if (this.absent(rel)) return "";
    let fd = -1;
    try {
      fd = openSync(this.abs(rel), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      if (!fstatSync(fd).isFile()) return "";
      const buf = Buffer.allocUnsafe(max); // only the bytes read are used
      return buf.subarray(0, readSync(fd, buf, 0, max, 0)).toString("utf8");
    } catch {
      return "";
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }

  /**
   * Repositories one level down (a share such as ~/src holding several projects): their
   * existing `.git` is guarded as the root's is, and a new one (`git init sub`, with
   * core.fsmonitor set) is moved aside after the run: VS Code opens the repositories one level
   * down by itself and runs git in them. Deeper ones are not (README, residual risks): finding
   * them would mean walking the whole tree.
   */
  childRepositories(): void {
    let dirs: string[] = [];
    try {
      dirs = (this.entries() ?? readdirSync(this.root, { withFileTypes: true })).filter((d) => d.isDirectory() && !d.name.startsWith(".git")).map((d) => d.name);
    } catch {}
    // Another user's repository is out of the sandbox's reach (its owner is not mapped inside),
    // and nsbox as root could not bind it there either.
    for (const d of dirs) {
      this.children[`${d}/.git`] = nameId(this.abs(`${d}/.git`)) ?? "";
      if (d !== "node_modules" && look(this.abs(`${d}/.git`)) && look(this.abs(d))?.uid === this.host.uid) this.gitEntry(`${d}/.git`);
    }
  }

  /** A git directory: pinned, its config and hooks read-only, its submodules' and worktrees' too. */
  gitDir(rel: string, depth = 0): void {
    const st = this.look(rel);
    if (!st?.isDirectory()) return this.path(rel, depth);
    this.pin(rel);
    for (const p of GIT_DIR_PROTECTED) this.path(`${rel}/${p.path}`);
    this.hookLinks(`${rel}/hooks`, depth);
    for (const sub of ["modules", "worktrees"]) {
      let names: string[] = [];
      try {
        names = readdirSync(this.abs(`${rel}/${sub}`), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
      } catch {}
      if (depth < 4) for (const n of names) this.gitDir(`${rel}/${sub}/${n}`, depth + 1);
    }
    // The config may point outside the git directory: included files, and core.hooksPath
    // (relative to the work tree: the directory holding .git; unknown for modules and worktrees).
    const config = this.abs(`${rel}/config`);
    const tree = rel === ".git" ? this.root : rel.endsWith("/.git") ? this.abs(rel.slice(0, -5)) : this.root;
    // The files it includes are git config too (a project's `.gitconfig` that `include.path =
    // ../.gitconfig` pulls in names its own hooksPath and drivers): read like it, a few levels down.
    const own = [config, this.abs(`${rel}/config.worktree`)];
    for (let i = 0; i < own.length && own.length < 12; i++) {
      for (const { value } of gitConfigValues(own[i]!, ["include.path", "includeif.path"], this.configs)) {
        const inner = this.inside(value.startsWith("~/") ? join(this.host.home, value.slice(2)) : resolve(dirname(own[i]!), value));
        if (!inner) continue;
        this.path(inner, depth + 1, true);
        if (!own.includes(this.abs(inner))) own.push(this.abs(inner));
      }
    }
    // Programs the config runs that are files of the project (relative to the work tree, where
    // git runs them), your own config's too (`alias.t = !./scripts/test.sh` in ~/.gitconfig).
    const isRepo = rel === ".git" || rel.endsWith("/.git");
    const globals = isRepo ? ["/etc/gitconfig", join(this.host.env.XDG_CONFIG_HOME || join(this.host.home, ".config"), "git/config"), join(this.host.home, ".gitconfig")] : [];
    for (const { value } of [...globals, ...own].flatMap((file) => gitConfigValues(file, GIT_COMMAND_KEYS, this.configs))) {
      const program = /^!?\s*(?:"([^"]+)"|'([^']+)'|(\S+))/.exec(value);
      const path = program?.[1] ?? program?.[2] ?? program?.[3];
      if (!path?.includes("/")) continue;
      const inner = this.inside(path.startsWith("~/") ? join(this.host.home, path.slice(2)) : resolve(tree, path));
      if (inner) this.path(inner, depth + 1, true);
    }
    if (isRepo) {
      for (const file of [...globals, ...own]) {
        for (const { value } of gitConfigValues(file, ["core.hookspath"], this.configs)) {
          const inner = this.inside(value.startsWith("~/") ? join(this.host.home, value.slice(2)) : resolve(tree, value));
          if (inner) {
            this.path(inner, depth + 1, true);
            this.hookLinks(inner, depth + 1);
          }
        }
      }
      // Submodules' work trees: git status runs git in each, with the gitdir its .git names.
      for (const { value } of gitConfigValues(join(tree, ".gitmodules"), ["submodule.path"], this.configs)) {
        const inner = this.inside(resolve(tree, value));
        if (inner) this.gitEntry(`${inner}/.git`, depth + 1);
      }
    }
  }
}

/**
 * Guard the protected paths of the share at sandbox path `at` (the current directory or a
 * `--rw`/`--bind` target), and of every guarded path below it that it now shows. Called right
 * after the share is mounted, so a later option (`--rw .git/config`) still mounts over it.
 */
/** What a writable share of host directory `root` guards, collected. */
function collect(root: string, host: Host): Collector {
  const c = new Collector(root, host);
  for (const p of PROTECTED) (p.path === ".git" ? c.gitEntry(".git") : c.path(p.path, 0, p.missingParents));
  c.ownCode();
  c.childRepositories();
  c.envrcFiles();
  c.miseFiles();
  c.workspaceFiles();
  return c;
}

/**
 * The host paths a writable share of host directory `root` guards: bound read-only, or watched
 * to be moved aside when the sandbox creates them. For the loosening check (src/loosening.ts):
 * a writable option that names one of them, or a directory inside one, opens it. With
 * `pinned`, the directories it pins too (a child repository's existing .git).
 */
export function guardedPaths(root: string, host: Host, pinned = false): string[] {
  if (!look(root)?.isDirectory()) return [];
  const c = collect(root, host);
  const paths = [...c.actions.values()].filter((a) => pinned || a.kind === "ro").map((a) => join(root, a.rel));
  for (const [dirRel, names] of c.watched) for (const name of Object.keys(names)) paths.push(join(root, dirRel, name));
  for (const child of Object.keys(c.children)) paths.push(join(root, child));
  return paths;
}

/**
 * A missing dist/ or node_modules/ of nsbox's own package in the share `root`: a payload could
 * make one, and another nsbox started while it runs would load its code from there (a watch
 * only moves it aside after the run). Made empty now, before the sandbox exists (and before the
 * scan lists the share), it is guarded read-only like the rest of nsbox's code; bin/nsbox runs
 * the sources while dist/ holds no build.
 */
function makeOwnDirs(root: string): void {
  const pkg = ownPackages().root;
  if (!isAncestorOrSelf(root, pkg)) return;
  for (const name of ["dist", "node_modules"]) {
    const path = join(pkg, name);
    if (lstatSync(path, { throwIfNoEntry: false })) continue;
    try {
      mkdirSync(path, { mode: 0o755 });
    } catch {}
  }
}

export function protectShare(b: PlanBuilder, at: string, why: Purpose, host: Host, opened: string[]): void {
  const roots = [at, ...b.guarded.filter((g) => g !== at && isAncestorOrSelf(at, g))];
  if (!b.guarded.includes(at)) b.guarded.push(at);
  for (const rootAt of roots) {
    const cover = b.coverAt(rootAt);
    if (!cover.writesHost || !cover.host || !look(cover.host)?.isDirectory()) continue;
    const root = cover.host;
    const isOpened = (rel: string) => opened.some((o) => o !== root && isAncestorOrSelf(root, o) && isAncestorOrSelf(o, join(root, rel)));
    makeOwnDirs(root);
    const c = collect(root, host);
    const sandbox = (rel: string) => (rel === "" ? rootAt : `${rootAt}/${rel}`);
    const depth = (rel: string) => (rel === "" ? 0 : rel.split("/").length);
    // Shallow first: a directory bound over itself after its contents would hide them.
    for (const a of [...c.actions.values()].sort((x, y) => depth(x.rel) - depth(y.rel))) {
      const dst = sandbox(a.rel);
      if (isOpened(a.rel)) continue;
      const here = b.coverAt(dst);
      if (!here.writesHost || here.host !== join(cover.host, a.rel)) continue;
      if (a.kind === "pin" && here.at === dst) continue;
      b.bind(here.host, dst, { readOnly: a.kind === "ro", isDir: a.isDir, why: { ...why, what: `${a.kind === "ro" ? "protect" : "pin"} ${dst} (${why.what})`, path: dst } });
    }
    c.watched.set("", { ...c.watched.get(""), ...c.children });
    for (const [dirRel, names] of c.watched) {
      const dir = join(cover.host, dirRel);
      const st = look(dir);
      if (st?.isDirectory()) b.watches.push({ dir, at: sandbox(dirRel), id: idOf(st), root: cover.host, names, ...(dirRel === "" ? { childGit: true } : {}) });
    }
  }
}

/** Watch `hostPath`, missing now, seen at `at` inside: made during the run, it is moved aside. */
export function watchMissing(b: PlanBuilder, hostPath: string, at: string): void {
  const dir = dirname(hostPath);
  const st = look(dir);
  if (!st?.isDirectory() || look(hostPath)) return;
  b.watches.push({ dir, at: dirname(at), id: idOf(st), root: dir, names: { [basename(hostPath)]: "" } });
}

/**
 * The watches that still matter once every option is planned: not shadowed by a later mount,
 * not read-only, and not opened by the user (`--rw`/`--rw-try`/`--bind` naming the path or a
 * directory between it and the share's root).
 */
export function finalWatches(b: PlanBuilder, specs: MountSpec[], host: Host): Watch[] {
  const opened = openedPaths(specs, host);
  const merged = new Map<string, Watch>();
  for (const w of b.watches) {
    const cover = b.coverAt(w.at);
    if (!cover.writesHost || cover.host !== w.dir) continue;
    const names = Object.fromEntries(
      Object.entries(w.names).filter(([name]) => {
        const path = join(w.dir, name);
        return !opened.some((o) => o !== w.root && isAncestorOrSelf(w.root, o) && isAncestorOrSelf(o, path));
      }),
    );
    const prev = merged.get(w.dir);
    const childGit = w.childGit || prev?.childGit;
    const inShare = opened.filter((o) => o !== w.root && isAncestorOrSelf(w.root, o));
    if (Object.keys(names).length || childGit) merged.set(w.dir, { ...w, names: { ...prev?.names, ...names }, ...(childGit ? { childGit, opened: inShare } : {}) });
  }
  return [...merged.values()];
}

/** The host paths the user's writable options name (resolved, when they exist): each opens what it names. */
export function openedPaths(specs: MountSpec[], host: Host): string[] {
  return specs
    .filter((s) => (s.kind === "rw" || s.kind === "bind" || s.kind === "dev-bind") && s.source !== undefined)
    .map((s) => {
      const path = expandPath(s.source!, host);
      try {
        return realpathSync(path);
      } catch {
        return path;
      }
    });
}

/** A watched directory, held open by descriptor from before the run. */
export interface Held {
  watch: Watch;
  fd: number;
}

/**
 * Open every watched directory before the sandbox starts (never through a symlink) and check
 * it is the one planned; the descriptor, not the path, is used after the run.
 */
export function holdWatches(watches: Watch[]): Held[] {
  const held: Held[] = [];
  for (const watch of watches) {
    let fd = -1;
    try {
      fd = openSync(watch.dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      if (idOf(fstatSync(fd)) !== watch.id) throw new Error("it is another directory now");
    } catch (e) {
      if (fd >= 0) closeSync(fd);
      for (const h of held) closeSync(h.fd);
      if (outOfDescriptors(e)) throw tooFewDescriptors(e);
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EACCES") {
        // The user's own mode bits (a 0311 directory), not a race: said as such, with the fix.
        throw new NsboxError("PATH_NOT_FOUND", `${watch.dir}: permission denied: nsbox reads each directory it shares writable, to see what the sandbox leaves there for the host to run later (.git/hooks, .envrc)`, {
          path: watch.dir, hint: `give yourself read permission (chmod u+r ${watch.dir}), or share what holds it read-only (--ro), or not at all (--no-cwd for the current directory)`,
        });
      }
      const why = code ?? (e as Error).message;
      throw new NsboxError("KERNEL_REFUSED", `${watch.dir} changed while nsbox was starting (${why}); run again`, { path: watch.dir });
    }
    held.push({ watch, fd });
  }
  return held;
}

/**
 * `DIR/.git` for the directories of a childGit watch made during the run (not planned, not
 * opened). Every directory, with no cap: past a cap, 10,000 empty directories made first would
 * hide the one that holds a new repository.
 */
function newChildGits(watch: Watch, listing: Dirent[] | undefined): [string, string][] {
  if (!listing) return [];
  const dirs = listing.filter((d) => d.isDirectory() && !d.name.startsWith(".git")).map((d) => d.name);
  return dirs
    .map((d) => `${d}/.git`)
    .filter((name) => !(name in watch.names) && !(watch.opened ?? []).some((o) => isAncestorOrSelf(o, join(watch.dir, name))))
    .map((name) => [name, ""]);
}

/** The held directory's entries, read once after the run; undefined when it can't be read (each name is then looked up). */
function listHeld(fd: number): Dirent[] | undefined {
  try {
    return readdirSync(`/proc/self/fd/${fd}`, { withFileTypes: true });
  } catch {
    return undefined;
  }
}

/**
 * After the run (every process of the sandbox gone): protected names that appeared in a held
 * directory, or whose identity changed, are renamed to NAME.nsbox-blocked-TIME beside it.
 * Everything goes through the held descriptor (/proc/self/fd/N/NAME): rename(2) never follows
 * the name it moves, and no path component the payload could have replaced is looked up.
 * Returns one warning per name moved, and closes the descriptors.
 */
export function releaseWatches(held: Held[], now = new Date()): string[] {
  const warnings: string[] = [];
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
  const unreachable = new Set<string>();
  for (const { watch, fd } of held) {
    // The payload may have taken nsbox's own access to the directory away (`chmod 0 .`): a
    // name nsbox cannot see would pass for absent, one it cannot rename would stay. Owner's
    // rights back for the check, then the mode it was left with (opened: the directories chmod
    // changed, to restore last).
    const opened: (() => void)[] = [];
    try {
      opened.push(...ownerAccess(fd, `/proc/self/fd/${fd}`));
      // One listing of the directory, read after every process of the sandbox is gone: a name
      // whose first component is not in it is absent (its lookup would find nothing, and an
      // absent name is left alone), so only the names there are looked up one by one.
      // A share's root is listed anyway (its new child repositories); another directory is not.
      const listing = watch.childGit ? listHeld(fd) : undefined;
      const present = listing && new Set(listing.map((d) => d.name));
      for (const [name, id] of [...Object.entries(watch.names), ...newChildGits(watch, listing)]) {
        if (present && !present.has(name.split("/", 1)[0]!)) continue;
        // `DIR/.git`: only through a directory (a symlink DIR would lead out of the share).
        if (name.includes("/")) {
          const parent = `/proc/self/fd/${fd}/${name.slice(0, name.lastIndexOf("/"))}`;
          if (!look(parent)?.isDirectory()) continue;
          opened.push(...ownerAccess(-1, parent));
        }
        const at = `/proc/self/fd/${fd}/${name}`;
        const path = join(watch.dir, name);
        const now = nameId(at);
        if (now === id) continue;
        if (now === null) {
          // Once per directory: every watched name in it is out of reach alike.
          const dir = dirname(path);
          if (!unreachable.has(dir)) warnings.push(`${dir} could not be looked into after the run (the sandbox took your access to it away${ownerNote(dir)}): check what it holds before running git or opening the project`);
          unreachable.add(dir);
          continue;
        }
        if (now === undefined) continue;
        // A random part: the payload cannot have made the new name in advance (rename would replace it).
        const aside = `${name}.nsbox-blocked-${stamp}-${Buffer.from(crypto.getRandomValues(new Uint8Array(4))).toString("hex")}`;
        try {
          renameSync(at, `/proc/self/fd/${fd}/${aside}`);
          warnings.push(`${path} was ${id ? "replaced" : "created"} inside the sandbox and the host would run it; moved it to ${aside} (--rw-try ${path} lets a run write it)`);
        } catch (e) {
          warnings.push(`${path} was ${id ? "replaced" : "created"} inside the sandbox and could not be moved aside (${(e as NodeJS.ErrnoException).code}): check it before running git or opening the project`);
        }
      }
    } finally {
      for (const undo of opened.reverse()) undo();
      closeSync(fd);
    }
  }
  return warnings;
}

/** ", and it belongs to uid N now" when `dir` is no longer the user's (given away with --id-map auto). */
function ownerNote(dir: string): string {
  const uid = look(dir)?.uid;
  return uid !== undefined && uid !== process.geteuid!() ? `: it belongs to uid ${uid} now` : "";
}

/** O_PATH (the same on x86_64 and aarch64): a handle that needs no access to the directory itself. */
const O_PATH = 0o10000000;

/**
 * Give the owner (nsbox's user) search, read and write on a directory of the user's that lacks
 * them: the held one by its descriptor `fd`, else the one at `path`, opened as an O_PATH handle
 * without following a symlink (a concurrent sandbox could swap one in) and changed through that
 * handle. Returns what restores its mode (and closes the handle), or nothing when nothing
 * changed (another owner's directory: the checks then warn).
 */
function ownerAccess(fd: number, path: string): (() => void)[] {
  let handle = fd;
  try {
    if (handle < 0) handle = openSync(path, O_PATH | constants.O_NOFOLLOW | constants.O_DIRECTORY);
    const st = fstatSync(handle);
    if (!st.isDirectory() || st.uid !== process.geteuid!() || (st.mode & 0o700) === 0o700) throw new Error("nothing to do");
    const mode = st.mode & 0o7777;
    const set = (m: number) => (fd >= 0 ? fchmodSync(fd, m) : chmodSync(`/proc/self/fd/${handle}`, m));
    set(mode | 0o700);
    return [() => {
      try {
        set(mode);
      } catch {}
      if (fd < 0) closeSync(handle);
    }];
  } catch {
    if (fd < 0 && handle >= 0) closeSync(handle);
    return [];
  }
}
