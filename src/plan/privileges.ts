// Capabilities the payload keeps (none by default) and resource limits, by name.
import { expected, problem } from "../options/problem.ts";

/** Capability names in kernel order (capability.h); the index is the number. */
export const CAPABILITIES = [
  "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
  "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
  "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
  "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
  "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
  "checkpoint_restore",
];

/** "CAP_NET_RAW", "net_raw" → 13; "ALL" → every capability. Throws a Problem (options/problem.ts). */
export function capNumbers(name: string): number[] {
  const n = name.toLowerCase().replace(/^cap_/, "");
  if (n === "all") return CAPABILITIES.map((_, i) => i);
  const i = CAPABILITIES.indexOf(n);
  if (i < 0) throw problem(`unknown capability '${name}' (e.g. CAP_NET_RAW, CAP_SYS_PTRACE, or ALL)`);
  return [i];
}

/** The capabilities kept: those added, less those dropped (as two 32-bit halves for the executor). */
export function keptCapabilities(add: string[] = [], drop: string[] = []): { low: number; high: number; names: string[] } {
  const keep = new Set(add.flatMap((n) => capNumbers(n)));
  for (const n of drop.flatMap((d) => capNumbers(d))) keep.delete(n);
  let low = 0, high = 0;
  for (const c of keep) c < 32 ? (low |= 1 << c) : (high |= 1 << (c - 32));
  return { low, high, names: [...keep].sort((a, b) => a - b).map((c) => `cap_${CAPABILITIES[c]}`) };
}

/** POSIX resource limits by --rlimit name (getrlimit(2) numbering). */
export const RLIMITS: Record<string, number> = { cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, nproc: 6, nofile: 7, memlock: 8, as: 9 };
const SIZE_LIMITS = new Set(["fsize", "data", "stack", "core", "memlock", "as"]);
const UNITS: Record<string, bigint> = { "": 1n, k: 1024n, m: 1024n ** 2n, g: 1024n ** 3n };

function limitValue(name: string, text: string): string {
  if (text === "unlimited" || text === "inf") return "inf";
  const m = /^(\d+)([kmg]?)$/i.exec(text);
  if (!m || (m[2] && !SIZE_LIMITS.has(name))) {
    throw problem(`${name}: expected a number${SIZE_LIMITS.has(name) ? " (k, m, g allowed)" : ""} or 'unlimited', got '${text}'`);
  }
  return String(BigInt(m[1]!) * UNITS[m[2]!.toLowerCase()]!);
}

/** "nofile=1024" or "nofile=1024:4096" → [resource, soft, hard] for the executor. Throws a Problem (options/problem.ts). */
export function parseRlimit(spec: string): { name: string; resource: number; soft: string; hard: string } {
  const eq = spec.indexOf("=");
  const name = spec.slice(0, eq).toLowerCase();
  if (eq <= 0 || !Object.hasOwn(RLIMITS, name)) {
    throw expected(`NAME=VALUE with NAME one of ${Object.keys(RLIMITS).join(", ")}`);
  }
  const [soft, hard = soft] = spec.slice(eq + 1).split(":");
  return { name, resource: RLIMITS[name]!, soft: limitValue(name, soft!), hard: limitValue(name, hard) };
}
