// The default seccomp filter: classic BPF assembled here, installed by the executor just before exec.
import { arch } from "node:os";
import { SECCOMP_TABLE } from "./seccomp-table.ts";

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
  { names: ["openat2"], errno: "ENOSYS", why: "its mode is in memory where the filter can't see it (a setuid file: MODE_CALLS); callers fall back to openat, whose mode it can check" },
  { names: ["modify_ldt"], errno: "ENOSYS", why: "16-bit segments for DOS and old Wine only, and a source of kernel bugs (CVE-2015-5157, CVE-2017-17053); kernels built without it answer ENOSYS too (x86 only)" },
];

/**
 * Socket families, for socket(2) and socketpair(2). The filter lets through only ALLOWED and
 * answers every other family with EAFNOSUPPORT, the kernel's own answer for a family it was
 * built without, so programs take the path they already have for that (libkcapi falls back to
 * user-space crypto, a vsock probe reports "not a VM"). An allow list, as Flatpak's filter: a
 * family added to a later kernel is refused until someone decides it is needed. REFUSED is
 * the reason for each family the kernel has today; tests/host-trust-hardening.test.ts tries
 * every one of them.
 */
export const SOCKET_FAMILIES: {
  allowed: readonly { family: number; name: string; why: string }[];
  refused: readonly { family: number; name: string; why: string }[];
} = {
  allowed: [
    { family: 1, name: "AF_UNIX", why: "local sockets: every language runtime, test runner and build tool uses them" },
    { family: 2, name: "AF_INET", why: "IPv4: loopback inside, and nsbox's proxy with --net allow" },
    { family: 10, name: "AF_INET6", why: "IPv6, as AF_INET" },
    { family: 16, name: "AF_NETLINK", why: "getaddrinfo(AI_ADDRCONFIG), getifaddrs and `ip` read interfaces through it; the dangerous protocols (nf_tables, xfrm) need CAP_NET_ADMIN, which the payload lacks" },
    { family: 17, name: "AF_PACKET", why: "raw frames; needs CAP_NET_RAW (only with --cap-add), and then sees only the sandbox's own interfaces" },
  ],
  refused: [
    { family: 3, name: "AF_AX25", why: "amateur radio: unmaintained, a long line of use-after-free bugs (CVE-2022-1204, CVE-2022-1205)" },
    { family: 4, name: "AF_IPX", why: "obsolete (removed in Linux 4.18)" },
    { family: 5, name: "AF_APPLETALK", why: "obsolete, unmaintained" },
    { family: 6, name: "AF_NETROM", why: "amateur radio: unmaintained, use-after-free bugs" },
    { family: 7, name: "AF_BRIDGE", why: "no sockets of its own; nothing to allow" },
    { family: 8, name: "AF_ATMPVC", why: "ATM: obsolete hardware, kernel bugs (CVE-2023-51780)" },
    { family: 9, name: "AF_X25", why: "X.25: obsolete, kernel bugs (CVE-2020-35519)" },
    { family: 11, name: "AF_ROSE", why: "amateur radio: unmaintained, use-after-free bugs (CVE-2022-2961)" },
    { family: 12, name: "AF_DECnet", why: "obsolete (removed in Linux 6.1)" },
    { family: 13, name: "AF_NETBEUI", why: "never implemented" },
    { family: 14, name: "AF_SECURITY", why: "never implemented" },
    { family: 15, name: "AF_KEY", why: "IPsec key management (PF_KEYv2): host-wide security associations, kernel bugs (CVE-2022-1353 leaked kernel memory)" },
    { family: 18, name: "AF_ASH", why: "never implemented" },
    { family: 19, name: "AF_ECONET", why: "obsolete (removed in Linux 3.5) after privilege escalations (CVE-2010-3849)" },
    { family: 20, name: "AF_ATMSVC", why: "ATM: obsolete hardware" },
    { family: 21, name: "AF_RDS", why: "Reliable Datagram Sockets: a history of privilege escalations (CVE-2010-3904, CVE-2019-11815)" },
    { family: 22, name: "AF_SNA", why: "never implemented" },
    { family: 23, name: "AF_IRDA", why: "infrared: obsolete (removed in Linux 4.17)" },
    { family: 24, name: "AF_PPPOX", why: "PPP over Ethernet and L2TP: tunnels a developer tool does not set up, kernel bugs" },
    { family: 25, name: "AF_WANPIPE", why: "obsolete WAN cards" },
    { family: 26, name: "AF_LLC", why: "IEEE 802.2 LLC: kernel bugs (CVE-2017-6345)" },
    { family: 27, name: "AF_IB", why: "InfiniBand addressing: needs RDMA hardware" },
    { family: 28, name: "AF_MPLS", why: "no sockets of its own" },
    { family: 29, name: "AF_CAN", why: "CAN bus: kernel bugs (CVE-2021-3609 in can/bcm, CVE-2023-2166)" },
    { family: 30, name: "AF_TIPC", why: "cluster IPC, loaded on demand by an unprivileged socket(): remote and local kernel bugs (CVE-2021-43267, CVE-2022-0435)" },
    { family: 31, name: "AF_BLUETOOTH", why: "Bluetooth: the host's adapters (the kernel ignores network namespaces for it), kernel bugs (CVE-2020-12351)" },
    { family: 32, name: "AF_IUCV", why: "IBM s390 mainframes only" },
    { family: 33, name: "AF_RXRPC", why: "AFS's RPC: kernel bugs (CVE-2023-2006)" },
    { family: 34, name: "AF_ISDN", why: "obsolete (mISDN)" },
    { family: 35, name: "AF_PHONET", why: "Nokia modems: hardware a sandbox has no use for" },
    { family: 36, name: "AF_IEEE802154", why: "low-power radio: kernel bugs (CVE-2021-3659)" },
    { family: 37, name: "AF_CAIF", why: "ST-Ericsson modems: hardware a sandbox has no use for" },
    { family: 38, name: "AF_ALG", why: "the kernel crypto API from user space: a large attack surface (CVE-2015-8970, CVE-2019-8912); user-space crypto needs nothing of it" },
    { family: 39, name: "AF_NFC", why: "NFC: the host's hardware, kernel bugs (CVE-2021-23134, CVE-2022-1974)" },
    { family: 40, name: "AF_VSOCK", why: "VM sockets ignore network namespaces: they reach the hypervisor and other VMs' services past --net none (and CVE-2021-26708)" },
    { family: 41, name: "AF_KCM", why: "kernel connection multiplexor: rarely used, kernel bugs found by fuzzing" },
    { family: 42, name: "AF_QIPCRTR", why: "Qualcomm IPC router: modem hardware" },
    { family: 43, name: "AF_SMC", why: "shared-memory communications: needs RDMA or s390 hardware; kernel bugs found by fuzzing" },
    { family: 44, name: "AF_XDP", why: "express data path: needs CAP_NET_RAW and eBPF, which the filter refuses anyway" },
    { family: 45, name: "AF_MCTP", why: "management component transport (BMCs): host hardware, kernel bugs (CVE-2022-3977)" },
  ],
};
/**
 * Protocols of AF_INET and AF_INET6 that socket() refuses with EPROTONOSUPPORT (the kernel's
 * answer when the module is absent). Each is a module the kernel loads on demand for any
 * unprivileged socket() call, which is how their bugs were reached from containers.
 */
export const SOCKET_PROTOCOLS_REFUSED: readonly { protocol: number; name: string; why: string }[] = [
  { protocol: 33, name: "IPPROTO_DCCP", why: "datagram congestion control: almost unused, a double free exploited for root (CVE-2017-6074)" },
  { protocol: 115, name: "IPPROTO_L2TP", why: "L2TP over IP (VPN tunnels): kernel bugs (CVE-2016-10200)" },
  { protocol: 132, name: "IPPROTO_SCTP", why: "telephony signalling transport: a long line of kernel bugs (CVE-2019-8956, CVE-2021-23133)" },
  { protocol: 256, name: "IPPROTO_SMC", why: "SMC through AF_INET (Linux 6.11+): the same surface as AF_SMC" },
];
/**
 * Socket types of AF_INET and AF_INET6 refused the same way, whatever the protocol: with
 * protocol 0 the kernel picks the type's only protocol, so socket(AF_INET, SOCK_SEQPACKET, 0)
 * is SCTP and SOCK_DCCP is DCCP wherever that code is built in or already loaded, and a filter
 * that looked at the protocol number alone let both through. With SOCK_NONBLOCK and
 * SOCK_CLOEXEC, the only flags the kernel accepts in the type.
 */
export const SOCKET_TYPES_REFUSED: readonly { type: number; name: string; why: string }[] = [
  { type: 5, name: "SOCK_SEQPACKET", why: "AF_INET's only SOCK_SEQPACKET protocol is SCTP" },
  { type: 6, name: "SOCK_DCCP", why: "AF_INET's only SOCK_DCCP protocol is DCCP" },
];
const SOCK_FLAGS = [0, 0x800, 0x80000, 0x80800]; // none, SOCK_NONBLOCK, SOCK_CLOEXEC, both
/**
 * The AF_NETLINK protocols socket() allows; every other one is EPROTONOSUPPORT, the kernel's
 * answer for a protocol it lacks. An unprivileged socket(AF_NETLINK, SOCK_RAW, N) makes the
 * kernel load the module of protocol N on demand: NETLINK_ISCSI loaded scsi_transport_iscsi,
 * whose bugs gave root (CVE-2021-27365), and NETLINK_NETFILTER is nf_tables' door, the most
 * exploited path from a user namespace (CVE-2022-1015, CVE-2024-1086) once --allow-nested
 * lets one be made. NETLINK_AUDIT and NETLINK_SELINUX talk to host-wide subsystems;
 * libaudit and libselinux take EPROTONOSUPPORT as "not built in".
 */
export const NETLINK_PROTOCOLS_ALLOWED: readonly { protocol: number; name: string; why: string }[] = [
  { protocol: 0, name: "NETLINK_ROUTE", why: "interfaces and addresses: getaddrinfo(AI_ADDRCONFIG), getifaddrs, `ip`" },
  { protocol: 4, name: "NETLINK_SOCK_DIAG", why: "the sandbox's own sockets: `ss`" },
  { protocol: 15, name: "NETLINK_KOBJECT_UEVENT", why: "device events of the sandbox's network namespace (none): libudev and Chromium open it and expect it to exist" },
  { protocol: 16, name: "NETLINK_GENERIC", why: "ethtool, WireGuard and Wi-Fi tools; its families that change anything need CAP_NET_ADMIN" },
];

/** The mount calls, refused unless the payload keeps CAP_SYS_ADMIN or may nest sandboxes (--allow-nested). */
export const MOUNT_CALLS = ["mount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "open_tree_attr", "mount_setattr"];

/** System call numbers by architecture: x86_64 and the generic table aarch64 uses. */
const NR: Record<"x64" | "arm64", Record<string, number>> = {
  x64: {
    modify_ldt: 154, socket: 41, socketpair: 53,
    keyctl: 250, add_key: 248, request_key: 249, bpf: 321, perf_event_open: 298, userfaultfd: 323,
    kexec_load: 246, kexec_file_load: 320, reboot: 169, init_module: 175, finit_module: 313, delete_module: 176,
    acct: 163, swapon: 167, swapoff: 168, quotactl: 179, quotactl_fd: 443, io_uring_setup: 425, io_uring_enter: 426,
    io_uring_register: 427, open_by_handle_at: 304, name_to_handle_at: 303, syslog: 103, vhangup: 153,
    lookup_dcookie: 212, uselib: 134, clone3: 435, mount: 165, umount2: 166, pivot_root: 155, fsopen: 430,
    fsconfig: 431, fsmount: 432, fspick: 433, move_mount: 429, open_tree: 428, mount_setattr: 442, open_tree_attr: 467,
    personality: 135, ioctl: 16, clone: 56, unshare: 272,
    chown: 92, fchown: 93, lchown: 94, fchownat: 260, setuid: 105, setgid: 106, setreuid: 113, setregid: 114,
    setresuid: 117, setresgid: 119,
    chmod: 90, fchmod: 91, fchmodat: 268, fchmodat2: 452, open: 2, openat: 257, creat: 85, mknod: 133, mknodat: 259, openat2: 437,
  },
  arm64: {
    socket: 198, socketpair: 199,
    keyctl: 219, add_key: 217, request_key: 218, bpf: 280, perf_event_open: 241, userfaultfd: 282,
    kexec_load: 104, kexec_file_load: 294, reboot: 142, init_module: 105, finit_module: 273, delete_module: 106,
    acct: 89, swapon: 224, swapoff: 225, quotactl: 60, quotactl_fd: 443, io_uring_setup: 425, io_uring_enter: 426,
    io_uring_register: 427, open_by_handle_at: 265, name_to_handle_at: 264, syslog: 116, vhangup: 58,
    lookup_dcookie: 18, clone3: 435, mount: 40, umount2: 39, pivot_root: 41, fsopen: 430, fsconfig: 431,
    fsmount: 432, fspick: 433, move_mount: 429, open_tree: 428, mount_setattr: 442, open_tree_attr: 467, personality: 92,
    ioctl: 29, clone: 220, unshare: 97,
    fchown: 55, fchownat: 54, setuid: 146, setgid: 144, setreuid: 145, setregid: 143, setresuid: 147, setresgid: 149,
    fchmod: 52, fchmodat: 53, fchmodat2: 452, openat: 56, mknodat: 33, openat2: 437,
  },
};
const AUDIT_ARCH = { x64: 0xc000003e, arm64: 0xc00000b7 };
const X32_SYSCALL_BIT = 0x40000000;
const ERRNO = { EPERM: 1, ENOSYS: 38, EPROTONOSUPPORT: 93, EAFNOSUPPORT: 97 };
const AF_INET = 2, AF_INET6 = 10;
const RET = { KILL_PROCESS: 0x80000000, ERRNO: 0x00050000, ALLOW: 0x7fff0000 };
const TIOCSTI = 0x5412; // push bytes into a terminal's input: the CVE-2017-5226 class
const TIOCLINUX = 0x541c; // the Linux console's own ioctl (selection paste into the console)
const CLONE_NEWUSER = 0x10000000;
/** personality(2) values that are harmless: the default, 32-bit uname, and the query. */
const PERSONALITY_OK = [0, 0x0008, 0xffffffff];

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS = 0x20, JEQ_K = 0x15, JGE_K = 0x35, JGT_K = 0x25, JSET_K = 0x45, JA = 0x05, RET_K = 0x06;
const NR_AT = 0, ARCH_AT = 4, ARG_LOW = (i: number) => 16 + 8 * i;

export interface SeccompChoices {
  /** Keep the mount calls (the payload kept CAP_SYS_ADMIN). */
  allowMounts: boolean;
  /** Allow new user namespaces inside (nested sandboxes). */
  allowNested: boolean;
  /** The ids the sandbox's user namespace maps (plan/ids.ts mappedIds); default: only 0. */
  ids?: MappedIds;
}

/** Inside ids as [first, count] runs: those the user namespace maps. */
export interface MappedIds {
  uid: readonly (readonly [number, number])[];
  gid: readonly (readonly [number, number])[];
}

/**
 * Calls that name an id the user namespace does not map. The kernel answers them with EINVAL,
 * which no program expects of root: `tar xf` of an archive with other owners exits 2, `cp -a`
 * fails. The filter completes them as they end for an unprivileged user outside: a file keeps
 * its owner (the change is skipped and the call returns 0, as GNU tar and cp as non-root do
 * not even try), and a change of the process's own ids is refused with EPERM. Arguments are
 * 32-bit ids (the low word); -1 means "leave it" and always passes. The ids the namespace maps
 * (0 alone by default) reach the kernel unchanged, so `chown 0` and `chown -1` work as before.
 * setgroups is already EPERM where setgroups is denied (a one-id map); setfsuid and setfsgid
 * return the old id and change nothing on their own.
 */
export const ID_CALLS: readonly { name: string; uids: number[]; gids: number[]; answer: "success, nothing changed" | "EPERM" }[] = [
  { name: "chown", uids: [1], gids: [2], answer: "success, nothing changed" },
  { name: "lchown", uids: [1], gids: [2], answer: "success, nothing changed" },
  { name: "fchown", uids: [1], gids: [2], answer: "success, nothing changed" },
  { name: "fchownat", uids: [2], gids: [3], answer: "success, nothing changed" },
  { name: "setuid", uids: [0], gids: [], answer: "EPERM" },
  { name: "setreuid", uids: [0, 1], gids: [], answer: "EPERM" },
  { name: "setresuid", uids: [0, 1, 2], gids: [], answer: "EPERM" },
  { name: "setgid", uids: [], gids: [0], answer: "EPERM" },
  { name: "setregid", uids: [], gids: [0, 1], answer: "EPERM" },
  { name: "setresgid", uids: [], gids: [0, 1, 2], answer: "EPERM" },
];

/**
 * Calls that give a file a mode, and where the mode is (`flags`: the open flags, the mode counts
 * only with O_CREAT or O_TMPFILE). A mode with the setuid or setgid bit is refused with EPERM,
 * as Nix's build sandbox refuses it: the sandbox runs as the user outside, so a setuid file it
 * leaves in a writable share is the user's, and whoever can reach that directory on the host
 * (another local user) runs it as the user, past every wall (tests/attack-issue13.test.ts).
 * openat2 takes its mode in memory, where the filter cannot look: it answers ENOSYS (refused
 * in DENIED), and callers fall back to openat.
 */
export const MODE_CALLS: readonly { name: string; mode: number; flags?: number }[] = [
  { name: "chmod", mode: 1 }, { name: "fchmod", mode: 1 }, { name: "fchmodat", mode: 2 }, { name: "fchmodat2", mode: 2 },
  { name: "creat", mode: 1 }, { name: "open", mode: 2, flags: 1 }, { name: "openat", mode: 3, flags: 2 },
  { name: "mknod", mode: 1 }, { name: "mknodat", mode: 2 },
];
const S_ISUID_ISGID = 0o6000;
const O_CREAT_OR_TMPFILE = 0o100 | 0o20000000;

type Insn = [code: number, jt: number, jf: number, k: number];

/**
 * ID_CALLS: for each call, every id argument is -1 or inside a mapped run, or the call gets its
 * answer; a call that passes is allowed at once (the accumulator then holds an argument, not
 * the number): so these blocks come last. Expects the syscall number loaded.
 */
function idCalls(p: Insn[], nr: Record<string, number>, ids: MappedIds): void {
  if (!ids.uid.length || !ids.gid.length) throw new Error("seccomp: the user namespace maps no id");
  for (const call of ID_CALLS) {
    if (nr[call.name] === undefined) continue; // aarch64 has no chown or lchown
    // One block with labels: "answer", "end" and "argN" (the next argument's check).
    const block: [code: number, jt: number | string, jf: number | string, k: number][] = [];
    const labels: Record<string, number> = {};
    const args = [...call.uids.map((i) => [i, ids.uid] as const), ...call.gids.map((i) => [i, ids.gid] as const)];
    block.push([JEQ_K, 0, "end", nr[call.name]!]);
    args.forEach(([arg, runs], n) => {
      const next = n + 1 < args.length ? `arg${n + 1}` : "allow";
      labels[`arg${n}`] = block.length;
      block.push([LD_W_ABS, 0, 0, ARG_LOW(arg)], [JEQ_K, next, 0, 0xffffffff]);
      runs.forEach(([first, count], r) => {
        const miss = r + 1 < runs.length ? `run${n}.${r + 1}` : "answer";
        labels[`run${n}.${r}`] = block.length;
        block.push([JGE_K, 0, miss, first], [JGT_K, miss, next, first + count - 1]);
      });
    });
    labels.answer = block.length;
    block.push([RET_K, 0, 0, RET.ERRNO | (call.answer === "EPERM" ? ERRNO.EPERM : 0)]);
    labels.allow = block.length;
    block.push([RET_K, 0, 0, RET.ALLOW]);
    labels.end = block.length;
    const at = (l: number | string, i: number) => (typeof l === "number" ? l : labels[l]! - i - 1);
    block.forEach(([code, jt, jf, k], i) => p.push([code, at(jt, i), at(jf, i), k]));
  }
}

/**
 * Programs assembled so far in this process, by their choices: a library that starts many
 * sandboxes assembles each filter once (about a millisecond each time otherwise). Handed out as
 * copies, so no plan can change another's.
 */
const assembled = new Map<string, Uint8Array>();

/** The filter for this machine's architecture, as the bytes of a sock_filter array. */
export function seccompProgram(c: SeccompChoices, machine = arch()): Uint8Array {
  const key = JSON.stringify([machine, c.allowMounts, c.allowNested, c.ids ?? null]);
  let program = assembled.get(key);
  if (program === undefined) assembled.set(key, (program = precomputed(c, machine) ?? assemble(c, machine)));
  return program.slice();
}

/** The key of a filter in seccomp-table.ts. */
export const tableKey = (machine: string, allowMounts: boolean, allowNested: boolean) => `${machine} mounts=${allowMounts} nested=${allowNested}`;

/**
 * The filter as seccomp-table.ts holds it, for the choices every plan without --uid or
 * --id-map makes (only id 0 mapped): assembling it cold costs 1-2 ms of every start.
 * tests/host-trust-hardening.test.ts keeps the table equal to what assemble() makes.
 */
function precomputed(c: SeccompChoices, machine: string): Uint8Array | undefined {
  const only0 = (runs: MappedIds["uid"]) => runs.length === 1 && runs[0]![0] === 0 && runs[0]![1] === 1;
  if (c.ids && !(only0(c.ids.uid) && only0(c.ids.gid))) return undefined;
  const base64 = SECCOMP_TABLE[tableKey(machine, c.allowMounts, c.allowNested)];
  return base64 === undefined ? undefined : new Uint8Array(Buffer.from(base64, "base64"));
}

/** Assembled afresh, never from the table (for scripts/seccomp-table.ts and the test that checks the table). */
export function assemble(c: SeccompChoices, machine: string): Uint8Array {
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
  // socket and socketpair: only the allowed families (the domain is an int: the low word),
  // and for AF_INET and AF_INET6 not the refused protocols (the third argument).
  const ip = [AF_INET, AF_INET6];
  const others = SOCKET_FAMILIES.allowed.map((f) => f.family).filter((f) => !ip.includes(f));
  const protocols = SOCKET_PROTOCOLS_REFUSED.map((r) => r.protocol);
  const types = SOCKET_TYPES_REFUSED.flatMap((t) => SOCK_FLAGS.map((f) => t.type | f));
  const AF_NETLINK = 16;
  const netlink = NETLINK_PROTOCOLS_ALLOWED.map((r) => r.protocol);
  const direct = others.filter((f) => f !== AF_NETLINK);
  for (const name of ["socket", "socketpair"]) {
    // A block with labels, resolved below: jt and jf may name one (0: the next instruction).
    const block: [code: number, jt: number | string, jf: number | string, k: number | string][] = [];
    const labels: Record<string, number> = {};
    const label = (l: string) => (labels[l] = block.length);
    block.push([JEQ_K, 0, "end", nr[name]!], [LD_W_ABS, 0, 0, ARG_LOW(0)]);
    for (const f of ip) block.push([JEQ_K, "ip", 0, f]);
    if (others.includes(AF_NETLINK)) block.push([JEQ_K, "netlink", 0, AF_NETLINK]);
    for (const f of direct) block.push([JEQ_K, "end", 0, f]);
    block.push([RET_K, 0, 0, RET.ERRNO | ERRNO.EAFNOSUPPORT]);
    // AF_INET, AF_INET6: not the refused protocols, nor the types only they implement.
    label("ip");
    block.push([LD_W_ABS, 0, 0, ARG_LOW(2)]);
    for (const v of protocols) block.push([JEQ_K, "refuse", 0, v]);
    block.push([LD_W_ABS, 0, 0, ARG_LOW(1)]);
    for (const v of types) block.push([JEQ_K, "refuse", 0, v]);
    block.push([JA, 0, 0, "end"]);
    // AF_NETLINK: only the allowed protocols.
    label("netlink");
    block.push([LD_W_ABS, 0, 0, ARG_LOW(2)]);
    for (const v of netlink) block.push([JEQ_K, "end", 0, v]);
    label("refuse");
    block.push([RET_K, 0, 0, RET.ERRNO | ERRNO.EPROTONOSUPPORT]);
    label("end");
    block.push([LD_W_ABS, 0, 0, NR_AT]);
    const at = (l: number | string, i: number) => (typeof l === "number" ? l : labels[l]! - i - 1);
    block.forEach(([code, jt, jf, k], i) => p.push([code, at(jt, i), at(jf, i), code === JA ? at(k, i) : (k as number)]));
  }
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
  // A setuid or setgid mode: EPERM (MODE_CALLS).
  for (const call of MODE_CALLS) {
    if (nr[call.name] === undefined) continue; // aarch64 has no chmod, open, creat or mknod
    if (call.flags === undefined) {
      p.push([JEQ_K, 0, 3, nr[call.name]!], [LD_W_ABS, 0, 0, ARG_LOW(call.mode)], [JSET_K, 0, 1, S_ISUID_ISGID]);
    } else {
      p.push([JEQ_K, 0, 5, nr[call.name]!], [LD_W_ABS, 0, 0, ARG_LOW(call.flags)], [JSET_K, 0, 3, O_CREAT_OR_TMPFILE]);
      p.push([LD_W_ABS, 0, 0, ARG_LOW(call.mode)], [JSET_K, 0, 1, S_ISUID_ISGID]);
    }
    deny("EPERM");
    loadNr();
  }
  idCalls(p, nr, c.ids ?? { uid: [[0, 1]], gid: [[0, 1]] });
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
