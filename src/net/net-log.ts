// --net-log's file: opened once for the whole run, without following anything the payload or
// the project could have planted (src/net/session.ts writes the lines through it).
import { closeSync, constants, fstatSync, ftruncateSync, openSync, realpathSync } from "node:fs";
import { resolve } from "node:path";
import { fileError, fileKind } from "../errno.ts";
import { NsboxError } from "../errors.ts";

const O_PATH = 0o10000000;

/** How a refusal of the log file names it: `--net-log FILE`, the config file's key, or the library's `netLog`. */
export interface LogNamed {
  text: string;
  option?: string;
}

/**
 * Open --net-log once, for the whole run. Security decision: the file may lie in a directory
 * the payload writes (the project), and a file it left there from an earlier run may be a
 * symlink or a hard link to the user's ~/.bashrc, whose next start would run the log's lines.
 * So each directory on the path is opened relative to the one before (through
 * /proc/self/fd/N, as openat would) without following a symlink, the file itself with
 * O_NOFOLLOW, and it must be a regular file of the user's with no other link; every line is
 * then written through this one descriptor, never reopened by name.
 */
export function openNetLog(path: string, named: LogNamed = { text: `--net-log ${path}`, option: "--net-log" }): number {
  const fail = (why: string, hint?: string) => new NsboxError("PATH_NOT_FOUND", `${named.text}: ${why}`, { option: named.option, path, hint });
  const full = resolve(path);
  const parts = full.split("/").filter(Boolean);
  const name = parts.pop();
  if (!name) throw fail("not a file");
  let dir = openSync("/", O_PATH | constants.O_DIRECTORY | constants.O_CLOEXEC);
  let fd: number;
  try {
    let at = "";
    for (const part of parts) {
      at += `/${part}`;
      let next: number;
      try {
        next = openSync(`/proc/self/fd/${dir}/${part}`, O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_CLOEXEC);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOTDIR" || code === "ELOOP") throw fail(`${at} is a symlink or not a directory`, symlinkHint(full));
        throw fail(`can't open ${at}: ${describe(e)}`);
      }
      closeSync(dir);
      dir = next;
    }
    try {
      fd = openSync(`/proc/self/fd/${dir}/${name}`, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY | constants.O_CLOEXEC, 0o600);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ELOOP") throw fail("it is a symlink; nsbox writes its log only to a regular file", "remove it, or give another path");
      throw fail(`can't write it: ${describe(e)}`);
    }
  } finally {
    closeSync(dir);
  }
  const st = fstatSync(fd);
  const why = !st.isFile() ? `it is ${fileKind(st.mode)}, not a regular file`
    : st.uid !== process.getuid!() ? `owned by uid ${st.uid}, not by you`
    : st.nlink !== 1 ? "it has other hard links (it may be another file of yours)"
    : undefined;
  if (why) {
    closeSync(fd);
    // /dev/null or /dev/zero is not the user's to remove: name a file instead.
    throw fail(why, st.isFile() ? "remove it, or give another path" : "give the path of a regular file (it is created when missing)");
  }
  try {
    ftruncateSync(fd, 0); // EPERM on an append-only file (chattr +a)
  } catch (e) {
    closeSync(fd);
    throw fail(`can't empty it: ${fileError(e)}`, "remove it, or give another path");
  }
  return fd;
}

const describe = (e: unknown) => ((e as NodeJS.ErrnoException).code === "ENOENT" ? "no such directory" : fileError(e));

function symlinkHint(full: string): string | undefined {
  try {
    return `give the path without symlinks: ${realpathSync(full)}`;
  } catch {
    return "give a path without symlinks";
  }
}
