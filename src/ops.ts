// The operations the C executor interprets, and their byte encoding (see executor/nsbox.h).

/** Operation codes; the numbers are the `OP_*` defines of executor/nsbox.h. */
export const OpCode = {
  WRITE_FILE: 1,
  MOUNT: 2,
  SETATTR: 3,
  MKDIR: 4,
  MKFILE: 5,
  SYMLINK: 6,
  PIVOT_ROOT: 7,
  UMOUNT: 8,
  CHDIR: 9,
  SETHOSTNAME: 10,
  LOOPBACK_UP: 11,
  OPEN_PTY: 12,
  SPAWN: 13,
  SETSID: 14,
  USE_PTY: 15,
  DROP_CAPS: 16,
  NO_NEW_PRIVS: 17,
  DEATH_SIGNAL: 18,
  EXEC: 19,
  BLOCKING_STDIO: 20,
  SETRLIMIT: 21,
  LANDLOCK: 22,
  SECCOMP: 23,
  SETNS: 24,
  CHROOT: 25,
  LISTEN_TCP: 26,
  BIND: 27,
  HOLD: 28,
} as const;
export type OpName = keyof typeof OpCode;

/** What an operation is for, in the user's terms: used to word a kernel refusal. */
export interface Purpose {
  /** A phrase completing "nsbox: can't …", e.g. "bind /usr read-only". */
  what: string;
  /** The command-line option the operation comes from, if any. */
  option?: string;
  /** The host path it concerns, if any. */
  path?: string;
}

/** One step of the plan. Strings are NUL-terminated on the wire; lists become char* arrays. */
export interface Op {
  op: OpName;
  flags?: number;
  a?: number;
  b?: number;
  s1?: string;
  s2?: string;
  s3?: string;
  s4?: string;
  lists?: { s1?: string[]; s2?: string[]; s3?: string[] };
  data?: Uint8Array; // WRITE_FILE content (s2), may hold any bytes
  why: Purpose;
}

export const PLAN_MAGIC = 0x58425340;
export const PLAN_VERSION = 1;
export const PLAN_VERBOSE = 1;
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
  const field = (o: Op, k: "s1" | "s2" | "s3"): number => {
    if (k === "s2" && o.data) return place(concat(o.data, new Uint8Array(1)));
    const items = o.lists?.[k];
    return items ? list(items) : str(o[k]);
  };
  const words = ops.map((o) => [
    OpCode[o.op], o.flags ?? 0, o.a ?? 0, o.b ?? 0,
    field(o, "s1"), field(o, "s2"), field(o, "s3"), str(o.s4),
  ]);
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
