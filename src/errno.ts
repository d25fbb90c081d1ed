// errno numbers to the names and texts users see (Linux numbering, as the executor reports), and
// running out of file descriptors, wherever nsbox notices it: loaded at start, as a module loaded
// later would need a descriptor of its own.
import { readFileSync } from "node:fs";
import { NsboxError } from "./errors.ts";
import { ERRNO, FDS_NEEDED } from "./kernel.ts";

// node:util is loaded on the first error only: it costs about a millisecond at start-up.
let table: Map<number, [string, string]> | undefined;
const system = () => (table ??= require("node:util").getSystemErrorMap() as Map<number, [string, string]>);

/** "Permission denied" for 13, "errno 1234" when unknown. */
export function errnoText(errno: number): string {
  const entry = system().get(-errno);
  if (!entry) return `errno ${errno}`;
  return entry[1].charAt(0).toUpperCase() + entry[1].slice(1);
}

/** "EACCES" for 13. */
export function errnoName(errno: number): string {
  return system().get(-errno)?.[0] ?? `E${errno}`;
}

/** errno numbers by name (src/kernel.ts, checked against the kernel's headers). */
export { ERRNO as Errno } from "./kernel.ts";

/** What a file is, from its mode, for messages: "a directory", "a FIFO (named pipe)", … */
export function fileKind(mode: number | bigint): string {
  switch (Number(mode) & 0o170000) {
    case 0o040000: return "a directory";
    case 0o010000: return "a FIFO (named pipe)";
    case 0o020000: return "a character device";
    case 0o060000: return "a block device";
    case 0o140000: return "a socket";
    case 0o120000: return "a symbolic link";
    default: return "a regular file";
  }
}

/** Texts libuv words misleadingly for a file nsbox opens ("illegal operation on a directory"). */
const FILE_ERRORS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EISDIR: "it is a directory",
  ENOTDIR: "a component of the path is not a directory",
  ELOOP: "it is a symbolic link",
  ENXIO: "it is a FIFO with no reader, or a device that is not there",
  ETXTBSY: "it is a program being run",
  EROFS: "the file system is read-only",
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EFBIG: "the file is too large (a file-size limit)",
  EIO: "an I/O error",
};

/** A failed fs call on a file, worded truthfully: "permission denied", never a code or "no such file". */
export function fileError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code && FILE_ERRORS[err.code]) return FILE_ERRORS[err.code]!;
  if (typeof err?.errno === "number") {
    const entry = system().get(err.errno < 0 ? err.errno : -err.errno);
    if (entry) return `${entry[1]} (${entry[0]})`;
  }
  return err?.message ?? String(e);
}

/** How the soft RLIMIT_NOFILE is read without a descriptor (executor.ts registers its call). */
let limitReader: (() => number | undefined) | undefined;
export function readNofileWith(read: () => number | undefined): void {
  limitReader = read;
}

/** The soft RLIMIT_NOFILE of this process (a sandbox starts with the same), or undefined. */
export function openFileLimit(): number | undefined {
  const known = limitReader?.(); // no descriptor needed
  if (known !== undefined) return known;
  try {
    const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
    const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
    return soft === undefined || soft === "unlimited" ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/** Whether `e` (an errno, or a Node error) says descriptors ran out. */
export function outOfDescriptors(e: unknown): boolean {
  const code = typeof e === "number" ? e : (e as NodeJS.ErrnoException | undefined)?.code;
  return code === ERRNO.EMFILE || code === ERRNO.ENFILE || code === "EMFILE" || code === "ENFILE";
}

/** Descriptors ran out (this process's limit, or the system's table): the limit, nsbox's need, the fix. */
export function tooFewDescriptors(e: unknown = ERRNO.EMFILE): NsboxError {
  const system = e === ERRNO.ENFILE || (e as NodeJS.ErrnoException | undefined)?.code === "ENFILE";
  if (system) {
    return new NsboxError("KERNEL_REFUSED", "the system has run out of file descriptors (ENFILE): close some programs, or raise fs.file-max (as root: sysctl -w fs.file-max=N)", { errno: ERRNO.ENFILE });
  }
  const limit = openFileLimit();
  const is = limit === undefined ? "" : `ulimit -n is ${limit}, `;
  return new NsboxError("KERNEL_REFUSED", `too few file descriptors: ${is}nsbox needs at least ${FDS_NEEDED} (EMFILE): raise the limit (ulimit -n 1024) and run again`, { errno: ERRNO.EMFILE });
}
