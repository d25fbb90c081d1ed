// Which path Unix sockets were made inside the sandbox, asked without connecting to any: a
// NETLINK_SOCK_DIAG socket that the sandbox's PID 1 made in the sandbox's network namespace
// (OP_LISTEN_TCP with OPF_DIAG, passed out) dumps every AF_UNIX socket of that namespace with
// the device and inode of the file it is bound to (UNIX_DIAG_VFS). A host process's socket lives
// in the host's namespace and never appears, whoever listens on it and wherever its file lies.
import * as sys from "./sys.ts";

const AF_UNIX = 1;
const NLMSG_ERROR = 2, NLMSG_DONE = 3, SOCK_DIAG_BY_FAMILY = 20;
const NLM_F_REQUEST = 0x1, NLM_F_DUMP = 0x300;
const UDIAG_SHOW_VFS = 0x2, UNIX_DIAG_VFS = 1;
/** One read of the dump: the kernel fills at most about 32 KiB per message batch. */
const CHUNK = 1 << 16;
/**
 * The most the dump is read per question: each socket is 36 bytes, so about 450,000 sockets.
 * A payload that makes more is refused its path connects (reported), not given a wait.
 */
const DUMP_MAX = 16 << 20;

/**
 * The kernel's own dev_t (MAJOR << 20 | MINOR, as udiag_vfs_dev carries the superblock's s_dev)
 * as stat(2) gives st_dev (new_encode_dev, glibc's makedev) and sys.fstatIds returns it.
 */
export function statDev(kdev: number): bigint {
  const major = BigInt(kdev >>> 20), minor = BigInt(kdev & 0xfffff);
  return ((major & 0xfffff000n) << 32n) | ((major & 0xfffn) << 8n) | ((minor & 0xffffff00n) << 12n) | (minor & 0xffn);
}

export type DiagAnswer = { bound: boolean } | { error: string };

/** The dump request: nlmsghdr, then struct unix_diag_req (every state, the VFS attribute). */
function request(seq: number): Uint8Array {
  const b = new Uint8Array(16 + 24);
  const v = new DataView(b.buffer);
  v.setUint32(0, b.length, true);
  v.setUint16(4, SOCK_DIAG_BY_FAMILY, true);
  v.setUint16(6, NLM_F_REQUEST | NLM_F_DUMP, true);
  v.setUint32(8, seq, true);
  b[16] = AF_UNIX; // sdiag_family; sdiag_protocol 0, pad
  v.setUint32(20, 0xffffffff, true); // udiag_states: all
  v.setUint32(24, 0, true); // udiag_ino: any
  v.setUint32(28, UDIAG_SHOW_VFS, true);
  v.setUint32(32, 0xffffffff, true); // cookie: none
  v.setUint32(36, 0xffffffff, true);
  return b;
}

/**
 * Security decision: whether a socket of the sandbox's network namespace is bound to the file
 * (dev, ino) of the path as the payload sees it (held open by the caller, so that its numbers
 * can't pass to another file meanwhile). The kernel names the file by its superblock's device
 * and the inode's own number; `devs` are the device as stat(2) gives it and the superblock's
 * (the mount's major:minor): they differ on overlayfs and btrfs, and either, with the number,
 * names one live file. One socket only ever binds one inode (bind(2) makes a new file), so a
 * match is the very socket a connect to that file reaches. The dump carries the inode's number
 * in 32 bits, so a file whose number does not fit (XFS's 64-bit inode numbers, sparse: two files
 * may share their low 32 bits long before 2^32 inodes) is never vouched for: not bound, fails
 * closed (such a socket made inside is refused, as a host program's). Never blocks: the kernel answers a dump of one namespace at once
 * (MSG_DONTWAIT), and reads stop at DUMP_MAX.
 */
export function sandboxSocketBoundTo(diag: number, id: { devs: readonly bigint[]; ino: bigint }): DiagAnswer {
  if (diag < 0) return { error: "nsbox has no sock_diag socket of the sandbox's" };
  if (id.ino > 0xffffffffn) return { bound: false };
  // Left over from a question that stopped early (DUMP_MAX): read away first.
  drain(diag);
  const seq = nextSeq();
  // Unconnected, a netlink socket sends to the kernel. A dump still running would be refused
  // (EBUSY, as an NLMSG_ERROR below): drain() above has read it to its end.
  const sent = sys.sendto(diag, request(seq), new Uint8Array(0));
  if (sent < 0) return { error: `sock_diag refused the question (errno ${-sent})` };
  const ino = Number(id.ino & 0xffffffffn);
  let bound = false;
  for (let total = 0; total < DUMP_MAX; ) {
    const r = sys.recvfrom(diag, CHUNK);
    if (typeof r === "number") return { error: `reading sock_diag's answer failed (errno ${-r})` };
    if (r.data.length === 0) return { error: "sock_diag's answer ended early" };
    total += r.data.length;
    const v = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength);
    for (let at = 0; at + 16 <= r.data.length; ) {
      const len = v.getUint32(at, true), type = v.getUint16(at + 4, true), s = v.getUint32(at + 8, true);
      if (len < 16 || at + len > r.data.length) return { error: "sock_diag's answer is malformed" };
      if (s === seq) {
        if (type === NLMSG_DONE) return { bound };
        if (type === NLMSG_ERROR) return { error: `sock_diag answered errno ${len >= 20 ? -v.getInt32(at + 16, true) : "?"}` };
        // struct unix_diag_msg (16 bytes), then attributes (struct nlattr, 4-byte aligned).
        if (!bound && type === SOCK_DIAG_BY_FAMILY && len >= 32) {
          for (let a = at + 32; a + 4 <= at + len; ) {
            const alen = v.getUint16(a, true), atype = v.getUint16(a + 2, true) & 0x3fff;
            if (alen < 4 || a + alen > at + len) break;
            if (atype === UNIX_DIAG_VFS && alen >= 12) {
              const vfsIno = v.getUint32(a + 4, true), vfsDev = v.getUint32(a + 8, true);
              if (vfsIno === ino && id.devs.includes(statDev(vfsDev))) bound = true;
            }
            a += (alen + 3) & ~3;
          }
        }
      }
      at += (len + 3) & ~3;
    }
  }
  return { error: "the sandbox has too many Unix sockets for nsbox to check" };
}

let seqCounter = 0;
const nextSeq = () => (seqCounter = (seqCounter + 1) >>> 0 || 1);

/** Read whatever is queued (and whatever a dump still running produces), bounded. */
function drain(diag: number): void {
  for (let total = 0; total < 4 * DUMP_MAX; ) {
    const r = sys.recvfrom(diag, CHUNK);
    if (typeof r === "number" || r.data.length === 0) return;
    total += r.data.length;
  }
}
