// A minimal /dev: the harmless host devices, a private devpts and a private /dev/shm.
import { ATTR, MS, PlanBuilder } from "./builder.ts";
import { tmpfsOptions } from "./tmpfs.ts";

/** Character devices bound from the host; nothing else of the host's /dev is reachable. */
export const DEVICES = ["null", "zero", "full", "random", "urandom", "tty"];

/**
 * The most terminals the sandbox's devpts hands out. Pseudo-terminals are counted host-wide
 * (kernel.pty.max, 4096 by default), and every devpts instance but the host's first may use all
 * of them except kernel.pty.reserve (1024): without a cap one payload took all 3071, and every
 * container, Docker run and other nsbox --tty on the machine got ENOSPC from /dev/ptmx until it
 * ended. A command and the shells or test harnesses it runs under ptys need far fewer.
 */
export const PTY_MAX = 256;

export function devOps(b: PlanBuilder): void {
  const why = { what: "make a minimal /dev" };
  b.tmpfs("/dev", tmpfsOptions("skeleton", "0755"), why, MS.NOSUID | MS.NOEXEC);
  for (const name of DEVICES) {
    b.bind(`/dev/${name}`, `/dev/${name}`, { readOnly: false, isDir: false, why: { what: `provide /dev/${name}`, path: `/dev/${name}` }, attrs: ATTR.NOSUID | ATTR.NOEXEC });
  }
  // A new devpts instance: the sandbox's terminals are its own, the host's are not visible.
  b.special("devpts", "/dev/pts", `newinstance,ptmxmode=0666,mode=0620,max=${PTY_MAX}`, MS.NOSUID | MS.NOEXEC, why)
    .symlink("pts/ptmx", "/dev/ptmx", why)
    .tmpfs("/dev/shm", tmpfsOptions("shm", "1777"), why);
  for (const [name, target] of [["fd", "/proc/self/fd"], ["stdin", "/proc/self/fd/0"], ["stdout", "/proc/self/fd/1"], ["stderr", "/proc/self/fd/2"]]) {
    b.symlink(target!, `/dev/${name}`, why);
  }
}
