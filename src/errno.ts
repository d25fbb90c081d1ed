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

/** errno numbers by name (src/kernel.ts, checked against the kernel's headers). */
export { ERRNO as Errno } from "./kernel.ts";
