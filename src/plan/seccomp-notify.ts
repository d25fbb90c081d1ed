// The notify filter: a second seccomp filter, installed by the sandbox's PID 1 with a listener
// that nsbox holds (OP_SECCOMP_NOTIFY), so that every call that could aim a socket somewhere
// reaches nsbox, which executes it itself (src/net/unotify.ts). The payload inherits it and
// stacks the default filter (src/plan/seccomp.ts) on top: an ERRNO there beats USER_NOTIF here.
import { arch } from "node:os";

/** The calls trapped, and when. */
export const TRAPPED: readonly { name: string; when: string }[] = [
  { name: "connect", when: "always (AF_UNSPEC included: it re-aims a socket too)" },
  { name: "sendto", when: "with an address (args[4] not NULL) or MSG_FASTOPEN in its flags" },
  { name: "sendmsg", when: "always: its address is in memory, where a filter cannot look" },
  { name: "sendmmsg", when: "always, as sendmsg" },
];

/**
 * Refused here too (ENOSYS), whatever --seccomp says: io_uring connects and sends without a
 * system call this filter sees (IORING_OP_CONNECT, IORING_OP_SENDMSG), so it would re-aim a
 * socket past nsbox. The default filter refuses it as well (src/plan/seccomp.ts DENIED).
 */
export const REFUSED = ["io_uring_setup", "io_uring_enter", "io_uring_register"];

const NR = {
  x64: { connect: 42, sendto: 44, sendmsg: 46, sendmmsg: 307, io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427 },
  arm64: { connect: 203, sendto: 206, sendmsg: 211, sendmmsg: 269, io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427 },
} as const;
const AUDIT_ARCH = { x64: 0xc000003e, arm64: 0xc00000b7 };
const X32_SYSCALL_BIT = 0x40000000;
const MSG_FASTOPEN = 0x20000000;
const ENOSYS = 38;
const RET = { KILL_PROCESS: 0x80000000, ERRNO: 0x00050000, USER_NOTIF: 0x7fc00000, ALLOW: 0x7fff0000 };
const LD_W_ABS = 0x20, JEQ_K = 0x15, JSET_K = 0x45, RET_K = 0x06;
const NR_AT = 0, ARCH_AT = 4, ARG_LOW = (i: number) => 16 + 8 * i, ARG_HIGH = (i: number) => 20 + 8 * i;

type Insn = [code: number, jt: number, jf: number, k: number];

/**
 * The notify filter for this machine's architecture, as the bytes of a sock_filter array. A
 * foreign architecture's call is killed (its numbers mean other calls), an x32 one is ENOSYS.
 */
export function notifyProgram(machine = arch()): Uint8Array {
  if (machine !== "x64" && machine !== "arm64") throw new Error(`seccomp: unsupported architecture ${machine}`);
  const nr = NR[machine];
  const p: Insn[] = [];
  p.push([LD_W_ABS, 0, 0, ARCH_AT], [JEQ_K, 1, 0, AUDIT_ARCH[machine]], [RET_K, 0, 0, RET.KILL_PROCESS]);
  p.push([LD_W_ABS, 0, 0, NR_AT]);
  if (machine === "x64") p.push([JSET_K, 0, 1, X32_SYSCALL_BIT], [RET_K, 0, 0, RET.ERRNO | ENOSYS]);
  for (const name of REFUSED) p.push([JEQ_K, 0, 1, nr[name as keyof typeof nr]], [RET_K, 0, 0, RET.ERRNO | ENOSYS]);
  // connect, sendmsg, sendmmsg: to NOTIF (the last of the three jumps over sendto's check).
  // Layout from here: 0 jeq connect, 1 jeq sendmsg, 2 jeq sendmmsg, 3 jeq sendto, 4 ALLOW,
  // 5 ld args[4] low, 6 jeq 0, 7 ld args[4] high, 8 jeq 0, 9 ld args[3] low, 10 jset FASTOPEN,
  // 11 ALLOW, 12 NOTIF.
  p.push([JEQ_K, 11, 0, nr.connect], [JEQ_K, 10, 0, nr.sendmsg], [JEQ_K, 9, 0, nr.sendmmsg], [JEQ_K, 1, 0, nr.sendto]);
  p.push([RET_K, 0, 0, RET.ALLOW]);
  p.push([LD_W_ABS, 0, 0, ARG_LOW(4)], [JEQ_K, 0, 5, 0], [LD_W_ABS, 0, 0, ARG_HIGH(4)], [JEQ_K, 0, 3, 0]);
  p.push([LD_W_ABS, 0, 0, ARG_LOW(3)], [JSET_K, 1, 0, MSG_FASTOPEN]);
  p.push([RET_K, 0, 0, RET.ALLOW]);
  p.push([RET_K, 0, 0, RET.USER_NOTIF]);
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
