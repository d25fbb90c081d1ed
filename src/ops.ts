// The operations the C executor interprets, and their byte encoding (see executor/nsbox.h).

import { OP, OPF, PLAN_MAGIC, PLAN_VERBOSE, PLAN_VERSION } from "./kernel.ts";

export { PLAN_MAGIC, PLAN_VERBOSE, PLAN_VERSION };
/** Operation codes (src/kernel.ts OP, nsbox.h OP_*). */
export const OpCode = OP;
export type OpName = keyof typeof OpCode;

/** What an operation is for, in the user's terms: used to word a kernel refusal. */
export interface Purpose {
  /** A phrase completing "nsbox: can't …", e.g. "bind /usr read-only". */
  what: string;
  /**
   * Where the operation comes from, as the user wrote it: the option and its value
   * (`--ro ./data`) or the file, key and value (`/p/nsbox.json: profiles.ci.ro "./data"`).
   */
  origin?: string;
  /** The command-line option the operation comes from, if any. */
  option?: string;
  /** The host path it concerns, if any. */
  path?: string;
}

/**
 * One step of the plan, with named fields; `encodePlan` maps them to the executor's wire slots
 * (nsbox.h documents each op's slots). Paths are as the executor sees them during setup
 * (/oldroot/… the host, /newroot/… the sandbox; see plan/builder.ts).
 */
export type Op = { why: Purpose } & (
  /** Write `content` to `path`; `create` makes (or truncates) a regular file with `mode`. */
  | { op: "WRITE_FILE"; path: string; content: string | Uint8Array; mode?: number; create?: boolean }
  /** mount(2); no source and no fstype: change the propagation of `target` (MS_PRIVATE…). */
  | { op: "MOUNT"; source?: string; target: string; fstype?: string; data?: string; flags: number; noSymlinks?: boolean }
  /** mount_setattr(2): set (and clear) MOUNT_ATTR_* on the mount at `path`, or its whole tree. */
  | { op: "SETATTR"; path: string; set: number; clear?: number; recursive?: boolean; noSymlinks?: boolean }
  /** A directory with `mode`; an existing one is fine unless `mustBeNew`. */
  | { op: "MKDIR"; path: string; mode: number; noSymlinks?: boolean; mustBeNew?: boolean }
  /** An empty file to mount on; an existing file is fine. */
  | { op: "MKFILE"; path: string; mode: number; noSymlinks?: boolean }
  /** symlink(2): a link at `linkpath` that reads `target`. */
  | { op: "SYMLINK"; target: string; linkpath: string; noSymlinks?: boolean }
  | { op: "PIVOT_ROOT"; newRoot: string; putOld: string }
  | { op: "UMOUNT"; path: string; flags: number }
  | { op: "CHDIR"; path: string }
  | { op: "SETHOSTNAME"; name: string }
  | { op: "LOOPBACK_UP" }
  /** A pseudo-terminal from `ptmx`, sized rows × cols; its master goes to the parent. */
  | { op: "OPEN_PTY"; ptmx: string; rows: number; cols: number }
  /** Start the payload (the ops after this one run in it); PID 1 passes `forward` signals on to it. */
  | { op: "SPAWN"; forward: readonly number[] }
  | { op: "SETSID" }
  /** The pty takes the place of stdin, stdout, stderr as bits 0, 1, 2 of `fds` say. */
  | { op: "USE_PTY"; fds: number }
  /** Keep these capabilities (bit N: capability N), drop every other one. */
  | { op: "DROP_CAPS"; keep: { low: number; high: number } }
  | { op: "NO_NEW_PRIVS" }
  | { op: "DEATH_SIGNAL"; signal: number }
  /** execve the first of `candidates` that runs (execvp's rule); `listenPid`: envp's LISTEN_PID= becomes the payload's pid. */
  | { op: "EXEC"; candidates: string[]; argv: string[]; envp: string[]; listenPid?: boolean }
  | { op: "BLOCKING_STDIO" }
  /** setrlimit(2); the limits are decimal or "inf". */
  | { op: "SETRLIMIT"; resource: number; soft: string; hard: string }
  /** Landlock: trees that may be read, written, and used as devices. */
  | { op: "LANDLOCK"; read: string[]; write: string[]; dev: string[] }
  /** A classic-BPF program (8 bytes an instruction). */
  | { op: "SECCOMP"; program: Uint8Array }
  /** PID 1 installs this filter with a listener and hands the listener to nsbox (src/net/unotify.ts). */
  | { op: "SECCOMP_NOTIFY"; program: Uint8Array }
  /** setns(2) into /proc/PID/ns/NAME, of type `nstype` (a CLONE_NEW* flag). */
  | { op: "SETNS"; path: string; nstype: number }
  /** Join the mount namespace `mntns` and enter the root `root` (nsbox exec). */
  | { op: "CHROOT"; root: string; mntns: string }
  /**
   * A TCP socket listening on 127.0.0.1:port inside, or (`udp`) a UDP socket bound on
   * `address`:port, or (`diag`) a NETLINK_SOCK_DIAG socket of the sandbox's network namespace
   * (src/net/unix-diag.ts); passed to the parent.
   */
  | { op: "LISTEN_TCP"; port: number; udp?: boolean; diag?: boolean; address?: string }
  /** Bind the checked host tree `source` (its `identity`, see plan/host-path.ts) at `target`, `attrs` set before it is attached. */
  | { op: "BIND"; source: string; target: string; identity: string; attrs: number; tree?: boolean; noSymlinks?: boolean }
  /** Hold the checked host directory `path` open at descriptor `slot`; without a path, close the slot. */
  | { op: "HOLD"; path?: string; identity?: string; slot: number }
  /** The caller's descriptors `fds`, open in nsbox's process, at the same numbers in the payload (plan/pass-fds.ts). */
  | { op: "PASS_FDS"; fds: number[] }
  /** Wait until newuidmap and newgidmap, run from outside, have written the user namespace's maps (src/id-map.ts). */
  | { op: "WAIT_ID_MAP" }
);
export type OpOf<N extends OpName> = Extract<Op, { op: N }>;

/** Whether `o` is an op `name`, typed as one. */
export const isOp = <N extends OpName>(o: Op, name: N): o is OpOf<N> => o.op === name;
/** The first op `name` of `ops`. */
export const findOp = <N extends OpName>(ops: readonly Op[], name: N): OpOf<N> | undefined =>
  ops.find((o): o is OpOf<N> => o.op === name);

/** The byte length of a WRITE_FILE's content (what the executor writes). */
export const contentLength = (content: string | Uint8Array): number =>
  typeof content === "string" ? Buffer.byteLength(content) : content.length;

/** A string slot: text, a list of texts (a char* array), or bytes (NUL-terminated on the wire). */
type Slot = string | string[] | Uint8Array | undefined;
interface Wire { flags?: number; a?: number; b?: number; s1?: Slot; s2?: Slot; s3?: Slot; s4?: string }

const bit = (on: boolean | undefined, flag: number) => (on ? flag : 0);

/** The wire slots of one op: the only place that knows which field goes where (nsbox.h OP_*). */
function wire(o: Op): Wire {
  switch (o.op) {
    case "WRITE_FILE": return { s1: o.path, s2: o.content, a: contentLength(o.content), b: o.mode ?? 0, flags: bit(o.create, OPF.CREATE) };
    case "MOUNT": return { s1: o.source, s2: o.target, s3: o.fstype, s4: o.data, a: o.flags, flags: bit(o.noSymlinks, OPF.NO_SYMLINKS) };
    case "SETATTR": return { s1: o.path, a: o.set, b: o.clear ?? 0, flags: bit(o.recursive, OPF.RECURSIVE) | bit(o.noSymlinks, OPF.NO_SYMLINKS) };
    case "MKDIR": return { s1: o.path, a: o.mode, flags: bit(o.noSymlinks, OPF.NO_SYMLINKS) | bit(o.mustBeNew, OPF.NEW) };
    case "MKFILE": return { s1: o.path, a: o.mode, flags: bit(o.noSymlinks, OPF.NO_SYMLINKS) };
    case "SYMLINK": return { s1: o.target, s2: o.linkpath, flags: bit(o.noSymlinks, OPF.NO_SYMLINKS) };
    case "PIVOT_ROOT": return { s1: o.newRoot, s2: o.putOld };
    case "UMOUNT": return { s1: o.path, a: o.flags };
    case "CHDIR": return { s1: o.path };
    case "SETHOSTNAME": return { s1: o.name };
    case "OPEN_PTY": return { s1: o.ptmx, a: o.rows, b: o.cols };
    case "SPAWN": return { a: o.forward.reduce((mask, sig) => mask | (1 << sig), 0) };
    case "USE_PTY": return { a: o.fds };
    case "DROP_CAPS": return { a: o.keep.low, b: o.keep.high };
    case "DEATH_SIGNAL": return { a: o.signal };
    case "EXEC": return { s1: o.candidates, s2: o.argv, s3: o.envp, flags: bit(o.listenPid, OPF.LISTEN_PID) };
    case "SETRLIMIT": return { a: o.resource, s1: o.soft, s2: o.hard };
    case "LANDLOCK": return { s1: o.read, s2: o.write, s3: o.dev };
    case "SECCOMP": case "SECCOMP_NOTIFY": return { s2: o.program, a: o.program.length };
    case "SETNS": return { s1: o.path, a: o.nstype };
    case "CHROOT": return { s1: o.root, s2: o.mntns };
    case "LISTEN_TCP": return { a: o.port, b: o.address ? o.address.split(".").reduce((v, n) => v * 256 + Number(n), 0) | 0 : 0, flags: bit(o.udp, OPF.UDP) | bit(o.diag, OPF.DIAG) };
    case "BIND": return { s1: o.source, s2: o.target, s3: o.identity, a: o.attrs, flags: bit(o.tree, OPF.TREE) | bit(o.noSymlinks, OPF.NO_SYMLINKS) };
    case "HOLD": return { s1: o.path, s3: o.identity, a: o.slot };
    case "PASS_FDS": return { s1: o.fds.join(" "), a: o.fds.length };
    case "LOOPBACK_UP": case "SETSID": case "NO_NEW_PRIVS": case "BLOCKING_STDIO": case "WAIT_ID_MAP": return {};
  }
}

const HEADER_SIZE = 32;
const OP_SIZE = 32;

/** The most bytes a slot can take on the wire: 3 per UTF-16 unit, a NUL, a list's pointers and their alignment. */
function room(v: Slot): number {
  if (v === undefined) return 0;
  if (typeof v === "string") return 3 * v.length + 1;
  if (!Array.isArray(v)) return v.length + 1;
  let n = 8 * (v.length + 1) + 7;
  for (const s of v) n += 3 * s.length + 1;
  return n;
}

/**
 * Encode ops into the wire format: a 32-byte header {magic, version, count, flags,
 * clone_flags}, 32 bytes per op {type, flags, a, b, s1, s2, s3, s4}, then the strings and
 * lists they point to by offset from the start (0 means none). Written in place into one
 * zeroed buffer sized for the worst case (a run's plan is re-encoded every launch: the
 * per-string encode and copies cost the library 0.36 ms of 116 ops).
 */
export function encodePlan(ops: Op[], cloneFlags: number, verbose: boolean): Uint8Array {
  const wires = ops.map(wire);
  let bound = HEADER_SIZE + OP_SIZE * ops.length;
  for (const w of wires) bound += room(w.s1) + room(w.s2) + room(w.s3) + room(w.s4);
  const buf = new Uint8Array(bound);
  const text = Buffer.from(buf.buffer, buf.byteOffset, bound);
  const view = new DataView(buf.buffer, buf.byteOffset, bound);
  let end = HEADER_SIZE + OP_SIZE * ops.length;
  // Each string NUL-terminated (the buffer is zeroed): UTF-8, as TextEncoder would write it.
  const str = (s?: string): number => {
    if (s === undefined) return 0;
    const at = end;
    end += (s.length ? text.write(s, at, "utf8") : 0) + 1;
    return at;
  };
  const list = (items: string[]): number => {
    end = Math.ceil(end / 8) * 8;
    const slots = end;
    end += 8 * (items.length + 1);
    items.forEach((item, i) => view.setBigUint64(slots + 8 * i, BigInt(str(item)), true));
    return slots;
  };
  const slot = (v: Slot): number => {
    if (v === undefined) return 0;
    if (typeof v === "string") return str(v);
    if (Array.isArray(v)) return list(v);
    const at = end;
    buf.set(v, at);
    end += v.length + 1;
    return at;
  };
  [PLAN_MAGIC, PLAN_VERSION, ops.length, verbose ? PLAN_VERBOSE : 0, cloneFlags >>> 0].forEach(
    (w, i) => view.setUint32(i * 4, w >>> 0, true),
  );
  wires.forEach((w, i) => {
    const words = [OpCode[ops[i]!.op], w.flags ?? 0, w.a ?? 0, w.b ?? 0, slot(w.s1), slot(w.s2), slot(w.s3), str(w.s4)];
    words.forEach((x, j) => view.setInt32(HEADER_SIZE + i * OP_SIZE + j * 4, x | 0, true));
  });
  return buf.subarray(0, end);
}
