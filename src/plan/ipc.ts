// The System V IPC limits of the sandbox's own IPC namespace: its shared memory is the host's memory.
import { type PlanBuilder, sandboxPath } from "./builder.ts";
import { capBytes } from "./tmpfs.ts";

/**
 * A new IPC namespace starts with the kernel's defaults, which bound nothing: shmmax and
 * shmall near 2^64, 32,000 message queues of 16 KiB (500 MiB of kernel memory), 32,000
 * semaphore arrays with 10^9 semaphores. A payload could hold gigabytes there that no tmpfs
 * cap and no `--rlimit as` counts (a segment counts only while attached), until the sandbox
 * ends. So the sandbox's System V shared memory gets the same cap as /dev/shm, its POSIX
 * counterpart, and queues and semaphores a few MiB: PostgreSQL, the usual user, takes its
 * semaphores from shared memory on Linux and a small segment. Written by PID 1 while it holds
 * CAP_SYS_ADMIN in the namespace's owner, before /proc/sys becomes read-only. The kernel lets
 * only the namespace's root uid write them, so with `--uid N` (N not 0) as a user other than
 * root they keep the kernel's defaults (README says so).
 */
export function ipcLimits(): [name: string, value: string][] {
  const shm = capBytes("shm");
  return [
    ["shmmax", String(shm)], // bytes in one segment
    ["shmall", String(shm / 4096)], // pages in all segments
    ["msgmni", "256"], // message queues, of msgmnb (16 KiB) each: 4 MiB
    ["sem", "32000 65536 500 1024"], // per array, in all (about 4 MiB), per semop, arrays
  ];
}

/** Ops that set the sandbox's IPC limits (after its /proc is mounted, before /proc/sys is read-only). */
export function ipcOps(b: PlanBuilder): void {
  for (const [name, value] of ipcLimits()) {
    const path = `/proc/sys/kernel/${name}`;
    b.push({ op: "WRITE_FILE", path: sandboxPath(path), content: value, why: { what: `limit the sandbox's System V ${name} to ${value}`, path } });
  }
}
