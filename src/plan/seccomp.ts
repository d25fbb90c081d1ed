// The default seccomp filter: classic BPF assembled here, installed by the executor just before exec.
import { arch } from "node:os";

/**
 * What the filter refuses, and why. This is the one list; README.md points here.
 * ENOSYS where a caller should fall back (it looks like an old kernel), EPERM otherwise.
 */
export const DENIED: readonly { names: string[]; errno: "EPERM" | "ENOSYS"; why: string }[] = [
  { names: ["keyctl", "add_key", "request_key"], errno: "ENOSYS", why: "kernel keyrings are not namespaced: keys of the user's host session could be read or planted" },
  { names: ["bpf"], errno: "EPERM", why: "eBPF is a large kernel attack surface, and unprivileged use is a frequent exploit path" },
  { names: ["perf_event_open"], errno: "ENOSYS", why: "performance counters leak information about other processes and are a frequent exploit path" },
  { names: ["userfaultfd"], errno: "ENOSYS", why: "used to win kernel race conditions in exploits" },
  { names: ["kexec_load", "kexec_file_load", "reboot"], errno: "EPERM", why: "replacing or restarting the kernel" },
  { names: ["init_module", "finit_module", "delete_module"], errno: "EPERM", why: "loading or unloading kernel modules" },
  { names: ["acct", "swapon", "swapoff", "quotactl", "quotactl_fd"], errno: "EPERM", why: "host-wide accounting, swap and quota settings" },
  { names: ["io_uring_setup", "io_uring_enter", "io_uring_register"], errno: "ENOSYS", why: "io_uring performs operations that seccomp never sees, so it would bypass this filter" },
  { names: ["open_by_handle_at", "name_to_handle_at"], errno: "EPERM", why: "opening files by handle walks around the mount namespace (the 'shocker' escape)" },
  { names: ["syslog", "vhangup", "lookup_dcookie", "uselib"], errno: "EPERM", why: "the kernel log, hanging up terminals, and obsolete interfaces" },
  { names: ["clone3"], errno: "ENOSYS", why: "its flags are in memory where the filter can't see them; libc falls back to clone, whose flags it can check" },
];
/** The mount calls, refused unless the payload keeps CAP_SYS_ADMIN or may nest sandboxes (--allow-nested). */
export const MOUNT_CALLS = ["mount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr"];

/** System call numbers by architecture: x86_64 and the generic table aarch64 uses. */
const NR: Record<"x64" | "arm64", Record<string, number>> = {
  x64: {
    keyctl: 250, add_key: 248, request_key: 249, bpf: 321, perf_event_open: 298, userfaultfd: 323,
    kexec_load: 246, kexec_file_load: 320, reboot: 169, init_module: 175, finit_module: 313, delete_module: 176,
    acct: 163, swapon: 167, swapoff: 168, quotactl: 179, quotactl_fd: 443, io_uring_setup: 425, io_uring_enter: 426,
    io_uring_register: 427, open_by_handle_at: 304, name_to_handle_at: 303, syslog: 103, vhangup: 153,
    lookup_dcookie: 212, uselib: 134, clone3: 435, mount: 165, umount2: 166, pivot_root: 155, fsopen: 430,
    fsconfig: 431, fsmount: 432, fspick: 433, move_mount: 429, open_tree: 428, mount_setattr: 442,
    personality: 135, ioctl: 16, clone: 56, unshare: 272,
  },
  arm64: {
    keyctl: 219, add_key: 217, request_key: 218, bpf: 280, perf_event_open: 241, userfaultfd: 282,
    kexec_load: 104, kexec_file_load: 294, reboot: 142, init_module: 105, finit_module: 273, delete_module: 106,
    acct: 89, swapon: 224, swapoff: 225, quotactl: 60, quotactl_fd: 443, io_uring_setup: 425, io_uring_enter: 426,
    io_uring_register: 427, open_by_handle_at: 265, name_to_handle_at: 264, syslog: 116, vhangup: 58,
    lookup_dcookie: 18, clone3: 435, mount: 40, umount2: 39, pivot_root: 41, fsopen: 430, fsconfig: 431,
    fsmount: 432, fspick: 433, move_mount: 429, open_tree: 428, mount_setattr: 442, personality: 92,
    ioctl: 29, clone: 220, unshare: 97,
  },
};
const AUDIT_ARCH = { x64: 0xc000003e, arm64: 0xc00000b7 };
const X32_SYSCALL_BIT = 0x40000000;
const ERRNO = { EPERM: 1, ENOSYS: 38 };
const RET = { KILL_PROCESS: 0x80000000, ERRNO: 0x00050000, ALLOW: 0x7fff0000 };
const TIOCSTI = 0x5412; // push bytes into a terminal's input: the CVE-2017-5226 class
const TIOCLINUX = 0x541c; // the Linux console's own ioctl (selection paste into the console)
const CLONE_NEWUSER = 0x10000000;
/** personality(2) values that are harmless: the default, 32-bit uname, and the query. */
const PERSONALITY_OK = [0, 0x0008, 0xffffffff];

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS = 0x20, JEQ_K = 0x15, JSET_K = 0x45, JA = 0x05, RET_K = 0x06;
const NR_AT = 0, ARCH_AT = 4, ARG_LOW = (i: number) => 16 + 8 * i;

export interface SeccompChoices {
  /** Keep the mount calls (the payload kept CAP_SYS_ADMIN). */
  allowMounts: boolean;
  /** Allow new user namespaces inside (nested sandboxes). */
  allowNested: boolean;
}

type Insn = [code: number, jt: number, jf: number, k: number];

/** The filter for this machine's architecture, as the bytes of a sock_filter array. */
export function seccompProgram(c: SeccompChoices, machine = arch()): Uint8Array {
  if (machine !== "x64" && machine !== "arm64") throw new Error(`seccomp: unsupported architecture ${machine}`);
  const nr = NR[machine];
  const p: Insn[] = [];
  const deny = (errno: keyof typeof ERRNO) => p.push([RET_K, 0, 0, RET.ERRNO | ERRNO[errno]]);
  const loadNr = () => p.push([LD_W_ABS, 0, 0, NR_AT]);
  // A foreign architecture (ia32 on x86_64, arm32 on aarch64) has other numbers: kill it.
  p.push([LD_W_ABS, 0, 0, ARCH_AT], [JEQ_K, 1, 0, AUDIT_ARCH[machine]], [RET_K, 0, 0, RET.KILL_PROCESS]);
  loadNr();
  if (machine === "x64") p.push([JSET_K, 0, 1, X32_SYSCALL_BIT], [RET_K, 0, 0, RET.ERRNO | ERRNO.ENOSYS]);
  const refuse = (name: string, errno: keyof typeof ERRNO) => {
    p.push([JEQ_K, 0, 1, nr[name]!]);
    deny(errno);
  };
  for (const group of DENIED) for (const name of group.names) if (nr[name] !== undefined) refuse(name, group.errno);
  if (!c.allowMounts) for (const name of MOUNT_CALLS) refuse(name, "EPERM");

  // ioctl: TIOCSTI and TIOCLINUX (the command is an unsigned int: the low word of the argument).
  p.push([JEQ_K, 0, 5, nr.ioctl!], [LD_W_ABS, 0, 0, ARG_LOW(1)], [JEQ_K, 2, 0, TIOCSTI], [JEQ_K, 1, 0, TIOCLINUX], [JA, 0, 0, 1]);
  deny("EPERM");
  loadNr();
  // personality: only the harmless values.
  p.push([JEQ_K, 0, PERSONALITY_OK.length + 2, nr.personality!], [LD_W_ABS, 0, 0, ARG_LOW(0)]);
  PERSONALITY_OK.forEach((v, i) => p.push([JEQ_K, PERSONALITY_OK.length - i, 0, v]));
  deny("EPERM");
  loadNr();
  // clone and unshare with CLONE_NEWUSER: no nested user namespaces unless asked for.
  if (!c.allowNested) {
    for (const name of ["clone", "unshare"]) {
      p.push([JEQ_K, 0, 3, nr[name]!], [LD_W_ABS, 0, 0, ARG_LOW(0)], [JSET_K, 0, 1, CLONE_NEWUSER]);
      deny("EPERM");
      loadNr();
    }
  }
  p.push([RET_K, 0, 0, RET.ALLOW]);

  const bytes = new Uint8Array(p.length * 8);
  const view = new DataView(bytes.buffer);
  p.forEach(([code, jt, jf, k], i) => {
    view.setUint16(i * 8, code, true);
    view.setUint8(i * 8 + 2, jt);
    view.setUint8(i * 8 + 3, jf);
    view.setUint32(i * 8 + 4, k >>> 0, true);
  });
  return bytes;
}
