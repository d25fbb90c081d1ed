// Running out of file descriptors, wherever nsbox notices it (planning, the executor, the report
// pipe): one message naming the limit, what nsbox needs and the fix.
import { readFileSync } from "node:fs";
import { NsboxError } from "./errors.ts";
import { nofileLimit } from "./executor.ts";
import { ERRNO, FDS_NEEDED } from "./kernel.ts";

/** The soft RLIMIT_NOFILE of this process (a sandbox starts with the same), or undefined. */
function openFileLimit(): number | undefined {
  const known = nofileLimit(); // no descriptor needed
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
