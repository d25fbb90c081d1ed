// The size and inode caps of every tmpfs the sandbox gets: their memory is the host's.
import { totalmem } from "node:os";

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/**
 * What a payload writes to a tmpfs is the host's memory (shared memory, "Shmem" in
 * /proc/meminfo), and neither `--rlimit as` nor `--rlimit fsize` counts it: the kernel's
 * default for a tmpfs is half of RAM, for each one. So every tmpfs nsbox mounts has a size and
 * an inode cap (each inode is about 1 KiB of kernel memory that no size= counts). This is the
 * one table; README.md ("Hardening", and the default view) shows the same.
 *
 * For comparison: Docker leaves --tmpfs at the kernel's default and gives /dev/shm 64 MiB;
 * systemd caps /tmp at 50% of RAM and 1M inodes and a private /dev at 4 MiB and 64k inodes.
 * nsbox's are lower, as a sandbox for one command needs less than a whole system, and each
 * writable one is overridable (`--tmpfs PATH:size=N,nr_inodes=N`).
 */
export const TMPFS_LIMITS = {
  /** /tmp, $HOME, and --tmpfs without size= or nr_inodes=. */
  scratch: { size: { atMost: GiB, ofRam: 1 / 4 }, inodes: "256k", why: "room for a build's or a test run's files; a quarter of RAM on small machines" },
  /** /dev/shm. */
  shm: { size: { atMost: 256 * MiB, ofRam: 1 / 4 }, inodes: "64k", why: "POSIX shared memory and semaphores; four times Docker's 64 MiB, which headless browsers outgrow" },
  /** An --overlay whose changes are discarded: its upper layer. */
  overlay: { size: { atMost: 2 * GiB, ofRam: 1 / 4 }, inodes: "1m", why: "an install tried on a copy (node_modules: many files); keep the changes in an UPPERDIR on disk to go past it" },
  /** The sandbox's root and /dev: read-only once set up, holding only mount points and links. */
  skeleton: { size: { atMost: 4 * MiB, ofRam: 1 }, inodes: "64k", why: "mount points and symlinks only (systemd's limit for a private /dev)" },
  /** What --hide puts over a directory: read-only and empty. */
  hidden: { size: { atMost: 4096, ofRam: 1 }, inodes: "16", why: "an empty, read-only directory" },
} as const;

export type TmpfsKind = keyof typeof TMPFS_LIMITS;

/** A kind's cap in bytes: the smaller of the cap and the share of RAM, in whole 4 KiB. */
export function capBytes(kind: TmpfsKind, ram = totalmem()): number {
  const { atMost, ofRam } = TMPFS_LIMITS[kind].size;
  return Math.max(1, Math.floor(Math.min(atMost, ram * ofRam) / 4096)) * 4096;
}

/** A size as tmpfs takes it, in KiB. */
function sizeOf(kind: TmpfsKind, ram = totalmem()): string {
  return `${capBytes(kind, ram) / 1024}k`;
}

/** tmpfs options for one of the kinds: `mode=…,size=…,nr_inodes=…`; given values win. */
export function tmpfsOptions(kind: TmpfsKind, mode: string, given: { size?: string; inodes?: string } = {}): string {
  return `mode=${mode},size=${given.size ?? sizeOf(kind)},nr_inodes=${given.inodes ?? TMPFS_LIMITS[kind].inodes}`;
}

/**
 * The staging tmpfs holds the files the plan writes before pivoting (/etc/passwd, --file
 * contents, --hide's empty files), then is reachable only through their read-only binds: its
 * cap is what they need, so not even a payload that kept CAP_SYS_ADMIN can grow it.
 */
export function stagingOptions(files: number[]): string {
  const pages = files.reduce((n, bytes) => n + Math.ceil(bytes / 4096), 0);
  return `mode=0755,size=${(pages + 256) * 4}k,nr_inodes=${files.length + 256}`;
}
