// Facts about the host and the calling user that a plan is built from, read once per run.
import { readFileSync, realpathSync } from "node:fs";

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

function passwdEntry(uid: number): string[] | undefined {
  try {
    return readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .map((l) => l.split(":"))
      .find((f) => f.length >= 7 && Number(f[2]) === uid);
  } catch {
    return undefined;
  }
}

function groupName(gid: number): string | undefined {
  try {
    return readFileSync("/etc/group", "utf8")
      .split("\n")
      .map((l) => l.split(":"))
      .find((f) => f.length >= 3 && Number(f[2]) === gid)?.[0];
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
    home: resolved(env.HOME || pw?.[5] || "/"),
    cwd: cwd ?? process.cwd(),
    env,
  };
}
