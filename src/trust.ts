// Trust in project config files: reading them safely, and the user's consent to what they loosen.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, realpathSync, renameSync, rmSync, statSync, writeSync, fsyncSync, type Stats } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { sha256 } from "./digest.ts";
import { fileError, fileKind } from "./errno.ts";
import { NsboxError } from "./errors.ts";
import { findHome, userName } from "./host.ts";
import type { Loosening } from "./loosening.ts";

export { sha256 };

/** A config file larger than this is not read: the project could make nsbox hold gigabytes (a sparse file costs no disk). */
export const MAX_CONFIG_BYTES = 4 << 20;

const NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_CLOEXEC;

/** The home directory `~` means, as readHost finds it (a relative $HOME is refused there too). */
export function homeDir(): string {
  return findHome();
}

/** The home directory with symlinks resolved, as the plan uses it (Silverblue's /home -> var/home). */
export function realHome(): string {
  try {
    return realpathSync(homeDir());
  } catch {
    return homeDir();
  }
}

function groupName(gid: number): string | undefined {
  try {
    return readFileSync("/etc/group", "utf8").split("\n").map((l) => l.split(":")).find((f) => f.length >= 3 && Number(f[2]) === gid)?.[0];
  } catch {
    return undefined;
  }
}

/**
 * Why a file or directory could have been written by someone other than the user, or undefined.
 * Owned by the user or root; writable by nobody else, except the user's private group (the
 * group named as the user, which usermod setups with umask 002 give every file).
 */
export function foreignWriter(st: Stats, what: string): string | undefined {
  const uid = process.getuid!();
  if (st.uid !== uid && st.uid !== 0) return `${what} is owned by another user (uid ${st.uid})`;
  if (st.mode & 0o002) return `${what} is writable by every user`;
  if (st.mode & 0o020 && !(st.gid === process.getgid!() && groupName(st.gid) === userName(uid))) return `${what} is writable by its group (gid ${st.gid})`;
  return undefined;
}

/** A config file's bytes, read through one descriptor opened without following a symlink. */
export type ConfigRead = { bytes: Buffer } | { ignored: string };

/**
 * Read a project config file, or say why it is ignored.
 *
 * Security decision: a config file is data from the project; nsbox reads it only when the user
 * (or root) could be its only writer: the file is regular (not a symlink: a link could lead out
 * of the project or be swapped while read), owned by the user or root and writable by nobody
 * else, in a directory of which the same holds. `/tmp/nsbox.json` found from `/tmp/x` is another
 * user's file as far as nsbox knows. The checks are on the open descriptor that is then read.
 */
export function readConfigFile(path: string): ConfigRead | undefined {
  let fd: number;
  try {
    fd = openSync(path, NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    if (code === "ELOOP") return { ignored: `${path} is a symbolic link (nsbox reads config files only as regular files)` };
    return { ignored: `${path} cannot be read: ${fileError(e)}` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { ignored: `${path} is ${fileKind(st.mode)}, not a regular file` };
    if (st.size > MAX_CONFIG_BYTES) return { ignored: `${path} is larger than ${MAX_CONFIG_BYTES >> 20} MiB` };
    const dir = dirname(path);
    const own = foreignWriter(st, path);
    const why = own ?? foreignWriter(lstatSync(dir), `its directory ${dir}`);
    // Writable by others is the user's to change; owned by another user is not.
    if (why) return { ignored: why.includes(" is writable by ") ? `${why}; if that is not meant, chmod go-w ${own ? path : dir}` : why };
    const bytes = readBounded(fd, MAX_CONFIG_BYTES);
    if (bytes === undefined) return { ignored: `${path} is larger than ${MAX_CONFIG_BYTES >> 20} MiB` };
    return { bytes };
  } catch (e) {
    // EIO, EISDIR on a strange file system: the file is unusable, which is no reason for an internal error.
    return { ignored: `${path} cannot be read: ${fileError(e)}` };
  } finally {
    closeSync(fd);
  }
}

/** Read `fd` to its end, or undefined past `max` bytes: a file may grow after its fstat. */
function readBounded(fd: number, max: number): Buffer | undefined {
  const buf = Buffer.allocUnsafe(max + 1);
  let n = 0;
  for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += r;
  return n > max ? undefined : buf.subarray(0, n);
}

/** The user's nsbox config directory: $XDG_CONFIG_HOME/nsbox, else ~/.config/nsbox. */
export function configDir(): string {
  const xdg = process.env.XDG_CONFIG_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homeDir(), ".config"), "nsbox");
}

const STORE = "trusted.json";

/** One trusted file: the sha256 of its content when trusted. */
export interface TrustEntry {
  sha256: string;
  trusted: string;
  /** What its profiles loosened when trusted, as listed then ("profiles.p.rw \"~\": writes /home/u, …"). */
  loosens?: string[];
}

/**
 * A loosening as one line: where, the value, and what it opens (paths resolved now). Control
 * characters are shown escaped: a profile name or a symlink's target is the project's text, and
 * one with ESC[2K, CR or ESC[8m could erase or conceal the rest of the line it is asked to trust.
 */
export const looseningLine = (l: Loosening) =>
  `${l.key} ${JSON.stringify(l.value)}: ${l.what}`.replace(/[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** Check the config directory: a real directory (not a link), the user's own, closed to others. */
function checkDir(dir: string): string | undefined {
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch {
    return undefined;
  }
  if (!st.isDirectory()) return `${dir} is not a directory${st.isSymbolicLink() ? " (a symbolic link)" : ""}`;
  if (st.uid !== process.getuid!()) return `${dir} is owned by another user (uid ${st.uid})`;
  if (st.mode & 0o022) return `${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

/**
 * The trusted files, by the real path of the file ("/p/nsbox.json", "/p/package.json#nsbox").
 * A store that could have been written by someone else is no trust at all: `warn` says why.
 */
export function readTrust(warn: (message: string) => void = () => {}): Record<string, TrustEntry> {
  const dir = configDir();
  const bad = checkDir(dir);
  if (bad) {
    warn(`the trust store is ignored: ${bad}`);
    return {};
  }
  const file = join(dir, STORE);
  let fd: number;
  try {
    fd = openSync(file, NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") warn(`the trust store ${file} is ignored: ${fileError(e)}`);
    return {};
  }
  try {
    const st = fstatSync(fd);
    const why = !st.isFile() ? `it is ${fileKind(st.mode)}, not a regular file` : st.size > MAX_CONFIG_BYTES ? `it is larger than ${MAX_CONFIG_BYTES >> 20} MiB` : st.uid !== process.getuid!() ? `owned by uid ${st.uid}` : st.mode & 0o022 ? "writable by others" : undefined;
    if (why) {
      warn(`the trust store ${file} is ignored: ${why}`);
      return {};
    }
    const bytes = readBounded(fd, MAX_CONFIG_BYTES);
    if (bytes === undefined) {
      warn(`the trust store ${file} is ignored: it is larger than ${MAX_CONFIG_BYTES >> 20} MiB`);
      return {};
    }
    const data = JSON.parse(bytes.toString("utf8")) as { files?: Record<string, TrustEntry> };
    // Entries are nsbox's own writing; one edited by hand to null is no trust, not an internal error.
    const files = data.files && typeof data.files === "object" ? data.files : {};
    return Object.fromEntries(Object.entries(files).filter(([, e]) => typeof (e as TrustEntry | null)?.sha256 === "string"));
  } catch (e) {
    warn(`the trust store ${file} is ignored: ${(e as Error).message}`);
    return {};
  } finally {
    closeSync(fd);
  }
}

/** Write the trusted files: the directory made 0700 if missing, the file replaced atomically (0600). */
/** The first component of `path`, from the root, that exists and is not a directory (or `path`). */
function notADirectory(path: string): string {
  const parts = path.split("/").filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const at = "/" + parts.slice(0, i).join("/");
    try {
      if (!statSync(at).isDirectory()) return at; // for the message only: a link to a directory is one
    } catch {
      return path;
    }
  }
  return path;
}

export function writeTrust(files: Record<string, TrustEntry>): void {
  const dir = configDir();
  try {
    mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  } catch {} // ~/.config a file, or not writable: the mkdir below says which
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EEXIST") {
      // ~/.config a file: the fix is there, not in the nsbox directory nobody could create.
      const hint = code === "ENOTDIR"
        ? `${notADirectory(dirname(dir))} is not a directory: move it aside, or set XDG_CONFIG_HOME to a directory of your own`
        : `make ${dir} a directory of your own with mode 700`;
      throw new NsboxError("STATE_DIR", `cannot record trust: can't create ${dir}: ${fileError(e)}`, { path: dir, hint });
    }
  }
  const bad = checkDir(dir);
  if (bad) throw new NsboxError("STATE_DIR", `cannot record trust: ${bad}`, { path: dir, hint: `make ${dir} a directory of your own with mode 700` });
  const file = join(dir, STORE);
  const tmp = join(dir, `.${STORE}.${process.pid}.${Math.random().toString(36).slice(2)}`);
  // The directory is the user's, but what is in it may not be what nsbox left (a trusted.json
  // made a directory, a mode 500): said with the fix, not an internal error.
  const cannot = (e: unknown) => new NsboxError("STATE_DIR", `cannot record trust in ${file}: ${fileError(e)}`, {
    path: file, hint: (e as NodeJS.ErrnoException).code === "EISDIR" ? `remove the directory ${file} (nsbox keeps a file there), then trust again` : `make ${dir} a directory you can write (chmod 700 ${dir}), then trust again`,
  });
  let fd: number;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_CLOEXEC, 0o600);
  } catch (e) {
    throw cannot(e);
  }
  let open = true;
  try {
    writeSync(fd, JSON.stringify({ files }, null, 2) + "\n");
    fsyncSync(fd);
    open = false;
    closeSync(fd);
    renameSync(tmp, file);
  } catch (e) {
    if (open) closeSync(fd);
    rmSync(tmp, { force: true });
    throw cannot(e);
  }
}

const within = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

/** Single-quoted for a POSIX shell when it needs quoting. */
export const shellWord = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);

/** The path the user gives to `nsbox trust` for a config: package.json for package.json#nsbox. */
export const trustArgument = (key: string) => key.replace(/#nsbox$/, "");

/**
 * Refuse a project profile that loosens the sandbox unless the user trusted the config file in
 * its current content. `key` is the file's real path (with #nsbox for package.json), `hash` the
 * sha256 of what was parsed, `root` the project root.
 *
 * Security decision: the trust store lives in the user's config directory, which no sandbox
 * sees by default ($HOME is a private tmpfs inside). If $XDG_CONFIG_HOME puts it inside the
 * project or the current directory (both shared writable by default), a payload could write it:
 * then it trusts nothing.
 */
export function requireTrust(found: Loosening[], profile: string, key: string, hash: string, root: string, cwd: string, warn: (m: string) => void): void {
  if (found.length === 0) return;
  const store = configDir();
  let real = store;
  try {
    real = realpathSync(store);
  } catch {}
  const reachable = [root, cwd].find((d) => within(real, d) || within(store, d));
  const trusted = reachable ? undefined : readTrust(warn)[key];
  if (reachable) warn(`the trust store ${store} is inside ${reachable}, which the sandbox can write: it is not used`);
  // The same bytes can mean more than when trusted: `~` is another home, or ./fixtures became a
  // symlink out of the project. Trust covers what the file loosened then, not what it loosens now.
  const lines = found.map(looseningLine);
  const covered = trusted?.sha256 === hash && Array.isArray(trusted.loosens) && lines.every((l) => trusted.loosens!.includes(l));
  if (covered) return;
  const state = !trusted ? "is not trusted" : trusted.sha256 === hash ? "loosens more than when you trusted it (a path now leads elsewhere, or a file it names has changed)" : "has changed since you trusted it";
  throw new NsboxError(
    "UNTRUSTED_CONFIG",
    `${key} ${state}, and its profile "${profile}" would loosen the sandbox:\n${lines.map((l) => `  ${l}`).join("\n")}`,
    { path: key, option: "--profile", hint: `after reading it, trust the file as it is now: nsbox trust ${shellWord(trustArgument(key))}` },
  );
}
