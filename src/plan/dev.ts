// A minimal /dev: the harmless host devices, a private devpts and a private /dev/shm.
import { ATTR, MS, PlanBuilder, sandboxPath } from "./builder.ts";

/** Character devices bound from the host; nothing else of the host's /dev is reachable. */
export const DEVICES = ["null", "zero", "full", "random", "urandom", "tty"];

export function devOps(b: PlanBuilder): void {
  const why = { what: "make a minimal /dev" };
  b.tmpfs("/dev", 0o755, why, MS.NOSUID | MS.NOEXEC);
  for (const name of DEVICES) {
    b.bind(`/dev/${name}`, `/dev/${name}`, { readOnly: false, isDir: false, why: { what: `provide /dev/${name}`, path: `/dev/${name}` }, attrs: ATTR.NOSUID | ATTR.NOEXEC });
  }
  // A new devpts instance: the sandbox's terminals are its own, the host's are not visible.
  b.mkdirp("/dev/pts", why)
    .push({ op: "MOUNT", s1: "devpts", s2: sandboxPath("/dev/pts"), s3: "devpts", s4: "newinstance,ptmxmode=0666,mode=0620", a: MS.NOSUID | MS.NOEXEC, why })
    .symlink("pts/ptmx", "/dev/ptmx", why)
    .tmpfs("/dev/shm", 0o1777, why);
  for (const [name, target] of [["fd", "/proc/self/fd"], ["stdin", "/proc/self/fd/0"], ["stdout", "/proc/self/fd/1"], ["stderr", "/proc/self/fd/2"]]) {
    b.symlink(target!, `/dev/${name}`, why);
  }
}
