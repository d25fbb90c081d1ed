// errno numbers to the names and texts users see (Linux numbering, as the executor reports).

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

export const Errno = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, ENOEXEC: 8, ECHILD: 10, EAGAIN: 11, ENOMEM: 12,
  EACCES: 13, EBUSY: 16, EEXIST: 17, ENOTDIR: 20, EISDIR: 21, EINVAL: 22, ENFILE: 23, EMFILE: 24, ENOSPC: 28,
  EROFS: 30, ENOSYS: 38, ELOOP: 40, EUSERS: 87, ESTALE: 116,
} as const;
