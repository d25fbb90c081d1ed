// Numbers shared with the kernel and the C executor, in one place. executor/nsbox.h defines the
// same names (CLONE_NEWNS, OP_MOUNT, OPF_CREATE, CALL_SPAWN, …); tests/kernel.test.ts checks
// that every one both define is equal, and the kernel's own against its uapi headers.

/** clone(2) namespace flags (linux/sched.h CLONE_NEW*). */
export const CLONE = {
  NEWNS: 0x00020000, NEWCGROUP: 0x02000000, NEWUTS: 0x04000000, NEWIPC: 0x08000000,
  NEWUSER: 0x10000000, NEWPID: 0x20000000, NEWNET: 0x40000000,
} as const;

/** mount(2) flags (linux/mount.h MS_*). */
export const MS = { NOSUID: 2, NODEV: 4, NOEXEC: 8, BIND: 4096, REC: 16384, PRIVATE: 1 << 18, SLAVE: 1 << 19 } as const;

/** mount_setattr(2) attributes (linux/mount.h MOUNT_ATTR_*). */
export const ATTR = { RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8 } as const;

/** umount2(2) flag (linux/mount.h). */
export const MNT_DETACH = 2;

/** Signal numbers (asm/signal.h; x86_64 and aarch64 agree), as nsbox.h names them SIG*. */
export const SIGNAL = {
  HUP: 1, INT: 2, QUIT: 3, KILL: 9, USR1: 10, USR2: 12, TERM: 15, CHLD: 17, CONT: 18, STOP: 19,
  TSTP: 20, TTIN: 21, TTOU: 22, WINCH: 28,
} as const;

/** errno values the executor reports and nsbox words (asm-generic/errno-base.h, errno.h). */
export const ERRNO = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, ENOEXEC: 8, ECHILD: 10, EAGAIN: 11, ENOMEM: 12,
  EACCES: 13, EBUSY: 16, EEXIST: 17, ENOTDIR: 20, EISDIR: 21, EINVAL: 22, ENFILE: 23, EMFILE: 24,
  ENOSPC: 28, EROFS: 30, ENAMETOOLONG: 36, ENOSYS: 38, ELOOP: 40, EUSERS: 87, ESTALE: 116,
} as const;

/** The plan's wire format: header magic and version, and the header's verbose flag. */
export const PLAN_MAGIC = 0x58425340;
export const PLAN_VERSION = 1;
export const PLAN_VERBOSE = 1;

/** Operation codes (nsbox.h OP_*). */
export const OP = {
  WRITE_FILE: 1, MOUNT: 2, SETATTR: 3, MKDIR: 4, MKFILE: 5, SYMLINK: 6, PIVOT_ROOT: 7, UMOUNT: 8,
  CHDIR: 9, SETHOSTNAME: 10, LOOPBACK_UP: 11, OPEN_PTY: 12, SPAWN: 13, SETSID: 14, USE_PTY: 15,
  DROP_CAPS: 16, NO_NEW_PRIVS: 17, DEATH_SIGNAL: 18, EXEC: 19, BLOCKING_STDIO: 20, SETRLIMIT: 21,
  LANDLOCK: 22, SECCOMP: 23, SETNS: 24, CHROOT: 25, LISTEN_TCP: 26, BIND: 27, HOLD: 28, PASS_FDS: 29,
  WAIT_ID_MAP: 30, SECCOMP_NOTIFY: 31,
} as const;

/** Op flags (nsbox.h OPF_*), one bit each; src/ops.ts sets them from the ops' named fields. */
export const OPF = { RECURSIVE: 1, NO_SYMLINKS: 2, NEW: 4, TREE: 8, CREATE: 16, LISTEN_PID: 32, UDP: 64, DIAG: 128 } as const;

/** Records on the report pipe (nsbox.h REPORT_*); read in src/supervise.ts. */
export const REPORT = { STEP: 1, FAIL: 2, STARTED: 3, EXIT: 4, PTY: 5, LISTEN: 6, STOPPED: 7, NOTIFY: 8 } as const;

/** Descriptors at fixed numbers in the sandbox's processes (nsbox.h *_FD). */
export const FD = {
  REPORT: 3, CONTROL: 4, PTY_SLAVE: 5, HOLD_LOWER: 6, HOLD_UPPER: 7, HOLD_WORK: 8,
} as const;

/**
 * The descriptors the executor needs at once (0-8 above, and two a step opens for a moment):
 * under this RLIMIT_NOFILE it reports EMFILE before its first step rather than fail at one.
 */
export const FDS_NEEDED = 32;
/** The step index PID 1 reports a failure to make its network namespace at (nsbox.h STEP_CLONE; executor/spawn.c unshares it right after the clone). */
export const STEP_CLONE = -2;

/** The most descriptors of the caller one sandbox is handed (--pass-fd, /dev/fd/N arguments, the jobserver). */
export const PASS_FDS_MAX = 64;

/** The parent's calls into the executor, by number (nsbox.h CALL_*, the switch in host.c). */
export const CALL = {
  spawn: 1, pipe: 2, socketpair: 3, close: 4, kill: 5, wait: 6, recvFd: 7,
  setWinsize: 8, setBlocking: 9, terminalSize: 10, readable: 11, landlockAbi: 12,
  unixListen: 13, unixAccept: 14, sendDataFd: 15, unixConnect: 16, recvDataFd: 17,
  pidfdOpen: 18, pidfdSignal: 19, pidfdRunning: 20, foreground: 21, removeDir: 22, nofileLimit: 23,
  terminalMode: 24, ptyWrite: 25, exit: 26, syscall: 27, watch: 28,
} as const;
