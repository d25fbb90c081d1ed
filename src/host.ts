// Facts about the host and the calling user that a plan is built from, read once per run.
import { readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { fileError } from "./errno.ts";
import { NsboxError } from "./errors.ts";

export interface Host {
  uid: number;
  gid: number;
  /** The caller's login name and primary group name ("user"/"users" when unknown). */
  user: string;
  group: string;
  shell: string;
  /** The real home directory. */
  home: string;
  cwd: string;
  env: Record<string, string | undefined>;
}

/**
 * The fields of /etc/passwd or /etc/group, split once per version of the file: a long-running
 * program (the library) starts many sandboxes, and the file is read again only when its identity,
 * size, modification or change time differs (a stat each run). Neither file is the payload's to
 * change: both are root's, and nsbox shares them read-only at most.
 */
const tables = new Map<string, { stamp: string; rows: string[][] }>();
function table(path: string): string[][] {
  const st = statSync(path, { bigint: true });
  const stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  const cached = tables.get(path);
  if (cached?.stamp === stamp) return cached.rows;
  const rows = readFileSync(path, "utf8").split("\n").map((l) => l.split(":"));
  tables.set(path, { stamp, rows });
  return rows;
}

function passwdEntry(uid: number): string[] | undefined {
  try {
    return table("/etc/passwd").find((f) => f.length >= 7 && Number(f[2]) === uid);
  } catch {
    return undefined;
  }
}

function groupName(gid: number): string | undefined {
  try {
    return table("/etc/group").find((f) => f.length >= 3 && Number(f[2]) === gid)?.[0];
  } catch {
    return undefined;
  }
}

/**
 * The home directory with symlinks resolved: the current directory is compared with it to
 * decide what to share, and process.cwd() is always resolved (e.g. Silverblue's /home -> var/home).
 */
function resolved(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** The login name of `uid` on the host, if it has one. */
export function userName(uid: number): string | undefined {
  return passwdEntry(uid)?.[0];
}

/**
 * This process's current directory, or an NsboxError the user can act on: process.cwd() throws
 * when the directory was removed (`cd /tmp/x && rmdir /tmp/x && nsbox …`), which nsbox reported
 * as an internal error. Every use of the current directory by the CLI and the library goes here.
 */
export function currentDir(): string {
  try {
    return process.cwd();
  } catch (e) {
    let was = "";
    try {
      was = ` (it was ${readlinkSync("/proc/self/cwd").replace(/ \(deleted\)$/, "")})`;
    } catch {}
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ERANGE" || code === "ENAMETOOLONG") {
      throw new NsboxError("PATH_NOT_FOUND", "the path of the current directory is longer than Linux lets a program ask for (4096 bytes)", { hint: "run nsbox from a directory with a shorter path" });
    }
    const why = code === "ENOENT" ? `the current directory was removed${was}` : `the current directory cannot be found${was}: ${fileError(e)}`;
    throw new NsboxError("PATH_NOT_FOUND", why, { hint: "cd to a directory that exists, then run nsbox again" });
  }
}

/**
 * $HOME when it is usable: a relative one would make `~` and the home checks depend on the
 * current directory (HOME=rel put "your home" inside the project), so it is refused.
 */
export function homeFrom(env: Record<string, string | undefined>): string | undefined {
  const home = env.HOME;
  if (!home) return undefined;
  if (!home.startsWith("/")) {
    throw new NsboxError("BAD_OPTION", `HOME=${home}: not an absolute path, so nsbox cannot tell where your home is`, { hint: "set HOME to your home directory (e.g. HOME=/home/you), or unset it to use the one in /etc/passwd" });
  }
  return home;
}

/**
 * The user's home: $HOME, else the one /etc/passwd (or NSS) gives the uid. With neither (a uid
 * with no passwd entry, started with `env -i`), os.homedir() threw and nsbox reported an
 * internal error; nsbox cannot tell which directories are the user's config, so it says so.
 */
export function findHome(env: Record<string, string | undefined> = process.env, pw = passwdEntry(process.getuid!())): string {
  const home = homeFrom(env) || pw?.[5];
  if (home) return home;
  try {
    return homedir();
  } catch {
    throw new NsboxError("BAD_OPTION", `HOME is not set, and uid ${process.getuid!()} has no home directory in /etc/passwd: nsbox cannot tell where your home is`, { hint: "set HOME to your home directory (e.g. HOME=/home/you)" });
  }
}

/** Read the host facts; `cwd` defaults to the process's current directory. */
export function readHost(cwd?: string, env: Record<string, string | undefined> = process.env): Host {
  const uid = process.getuid!();
  const gid = process.getgid!();
  const pw = passwdEntry(uid);
  return {
    uid,
    gid,
    user: pw?.[0] ?? "user",
    group: groupName(gid) ?? "users",
    shell: pw?.[6] || "/bin/sh",
    home: resolved(findHome(env, pw)),
    cwd: cwd ?? currentDir(),
    env,
  };
}
