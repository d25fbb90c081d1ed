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

/**
 * Encode ops into the wire format: a 32-byte header {magic, version, count, flags,
 * clone_flags}, 32 bytes per op {type, flags, a, b, s1, s2, s3, s4}, then the strings and
 * lists they point to by offset from the start (0 means none).
 */
export function encodePlan(ops: Op[], cloneFlags: number, verbose: boolean): Uint8Array {
  const enc = new TextEncoder();
  const chunks: { at: number; bytes: Uint8Array }[] = [];
  const fixups: { slots: number; items: number[] }[] = [];
  let end = HEADER_SIZE + OP_SIZE * ops.length;
  const place = (bytes: Uint8Array, align = 1): number => {
    end = Math.ceil(end / align) * align;
    chunks.push({ at: end, bytes });
    end += bytes.length;
    return end - bytes.length;
  };
  const str = (s?: string): number => (s === undefined ? 0 : place(enc.encode(s + "\0")));
  const list = (items: string[]): number => {
    const slots = place(new Uint8Array(8 * (items.length + 1)), 8);
    fixups.push({ slots, items: items.map(str) });
    return slots;
  };
  const slot = (v: Slot): number =>
    v === undefined ? 0 : typeof v === "string" ? str(v) : Array.isArray(v) ? list(v) : place(concat(v, new Uint8Array(1)));
  const words = ops.map((o) => {
    const w = wire(o);
    return [OpCode[o.op], w.flags ?? 0, w.a ?? 0, w.b ?? 0, slot(w.s1), slot(w.s2), slot(w.s3), str(w.s4)];
  });
  const buf = new Uint8Array(end);
  const view = new DataView(buf.buffer);
  [PLAN_MAGIC, PLAN_VERSION, ops.length, verbose ? PLAN_VERBOSE : 0, cloneFlags >>> 0].forEach(
    (w, i) => view.setUint32(i * 4, w >>> 0, true),
  );
  words.forEach((w, i) => w.forEach((x, j) => view.setInt32(HEADER_SIZE + i * OP_SIZE + j * 4, x | 0, true)));
  for (const { at, bytes } of chunks) buf.set(bytes, at);
  for (const { slots, items } of fixups) {
    items.forEach((offset, i) => view.setBigUint64(slots + 8 * i, BigInt(offset), true));
  }
  return buf;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
