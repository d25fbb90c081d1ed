/* nsbox executor: shared declarations. No system headers on purpose: TinyCC compiles this in
 * a few milliseconds without libc headers installed (see shared design notes, fact 3). */

#ifndef NSBOX_H
#define NSBOX_H

typedef unsigned long size_t;
typedef long ssize_t;
typedef unsigned int u32;
typedef unsigned long long u64;

/* libc entry points used (all thin system-call wrappers: nothing here takes a lock that a
 * thread of the parent Bun process could have held at clone time). */
long syscall(long number, ...);
int *__errno_location(void);
int open(const char *path, int flags, ...);
int close(int fd);
ssize_t read(int fd, void *buf, size_t count);
ssize_t write(int fd, const void *buf, size_t count);
struct pollfd { int fd; short events, revents; };
int poll(struct pollfd *fds, unsigned long n, int timeout);
int dup3(int oldfd, int newfd, int flags);
int fcntl(int fd, int cmd, ...);
int ioctl(int fd, unsigned long request, ...);
int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data);
int umount2(const char *target, int flags);
int mkdir(const char *path, unsigned int mode);
int chmod(const char *path, unsigned int mode);
int symlink(const char *target, const char *path);
int chdir(const char *path);
int sethostname(const char *name, size_t len);
int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
int setsid(void);
int unshare(int flags);
int getpgid(int pid);
int setpgid(int pid, int pgid);
int kill(int pid, int sig);
int waitpid(int pid, int *status, int options);
int execve(const char *path, char *const argv[], char *const envp[]);
int socket(int domain, int type, int protocol);
ssize_t sendmsg(int fd, const void *msg, int flags);
ssize_t recvmsg(int fd, void *msg, int flags);
int pipe2(int fds[2], int flags);
int socketpair(int domain, int type, int protocol, int fds[2]);
int getrlimit(int resource, void *limit);
void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);
int munmap(void *addr, size_t length);
int madvise(void *addr, size_t length, int advice);
void _exit(int status);

#define errno (*__errno_location())

/* Architecture: the system calls without a libc wrapper, and two open(2) flags, differ. */
#if defined(__x86_64__)
#define SYS_clone 56
#define SYS_pivot_root 155
#define SYS_capset 126
#define SYS_rt_sigaction 13
#define SYS_rt_sigprocmask 14
#define SYS_statx 332
#define SYS_getdents64 217
#define SYS_lseek 8
#define SYS_seccomp 317
#define O_DIRECTORY 0200000
#define O_NOFOLLOW 0400000
#elif defined(__aarch64__)
#define SYS_clone 220
#define SYS_pivot_root 41
#define SYS_capset 91
#define SYS_rt_sigaction 134
#define SYS_rt_sigprocmask 135
#define SYS_statx 291
#define SYS_getdents64 61
#define SYS_lseek 62
#define SYS_seccomp 277
#define O_DIRECTORY 040000  /* arm64's own (asm/fcntl.h), not asm-generic's */
#define O_NOFOLLOW 0100000
#else
#error "nsbox supports x86_64 and aarch64"
#endif
#define SYS_open_tree 428
#define SYS_move_mount 429
#define SYS_close_range 436
#define SYS_openat2 437
#define SYS_mount_setattr 442

#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_PRIVATE 2
#define MAP_ANONYMOUS 0x20
#define MAP_FAILED ((void *)-1)
#define MADV_DONTFORK 10
#define MADV_DOFORK 11

#define O_RDONLY 0
#define O_WRONLY 1
#define O_RDWR 2
#define O_CREAT 0100
#define O_EXCL 0200
#define O_NOCTTY 0400
#define O_TRUNC 01000
#define O_NONBLOCK 04000
#define O_CLOEXEC 02000000
#define O_PATH 010000000
#define F_DUPFD_CLOEXEC 1030
#define F_GETFL 3
#define F_SETFL 4
#define F_SETFD 2
#define FD_CLOEXEC 1
#define AT_FDCWD (-100)
#define AT_RECURSIVE 0x8000
#define TIOCSWINSZ 0x5414
#define TIOCGPGRP 0x540F
#define TIOCSPGRP 0x5410
#define PR_SET_PDEATHSIG 1
#define PR_GET_DUMPABLE 3
#define PR_SET_DUMPABLE 4
#define PR_SET_NO_NEW_PRIVS 38
#define AF_UNIX 1
#define AF_INET 2
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define SOCK_RAW 3
#define AF_NETLINK 16
#define NETLINK_SOCK_DIAG 4
#define SOL_SOCKET 1
#define SCM_RIGHTS 1
#define MSG_DONTWAIT 0x40
#define MSG_NOSIGNAL 0x4000
#define MSG_CMSG_CLOEXEC 0x40000000
#define SIG_BLOCK 0
#define SIG_SETMASK 2
#define WUNTRACED 2
#define RLIMIT_NOFILE 7

/* errno values (asm-generic/errno-base.h, errno.h) */
#define EPERM 1
#define ENOENT 2
#define EINTR 4
#define EIO 5
#define EAGAIN 11
#define EACCES 13
#define EEXIST 17
#define ENOTDIR 20
#define EINVAL 22
#define EMFILE 24
#define ENAMETOOLONG 36
#define ELOOP 40
#define ESTALE 116

/* Signals (asm/signal.h: the same numbers on x86_64 and aarch64); src/kernel.ts SIGNAL. */
#define SIGKILL 9
#define SIGCHLD 17
#define SIGCONT 18
#define SIGSTOP 19
#define SIGTSTP 20
#define SIGTTIN 21
#define SIGTTOU 22

/* clone(2) flags (linux/sched.h); CLONE_NEWNS is one of src/kernel.ts CLONE. */
#define CLONE_VM 0x00000100
#define CLONE_VFORK 0x00004000
#define CLONE_NEWNS 0x00020000

/* Everything below is mirrored by src/kernel.ts, as is every name above that kernel.ts has too;
 * tests/kernel.test.ts keeps them equal, and the kernel's own against its uapi headers. */

/* The plan's wire format (src/ops.ts encodes it). */
#define PLAN_MAGIC 0x58425340u   /* "@SBX" little-endian */
#define PLAN_VERSION 1
#define PLAN_VERBOSE 1

#define OP_WRITE_FILE 1      /* s1 path, s2 data, a length, b mode, flags OPF_CREATE */
#define OP_MOUNT 2           /* s1 source, s2 target, s3 fstype, s4 data, a flags */
#define OP_SETATTR 3         /* s1 path, a attr_set, b attr_clr, flags OPF_RECURSIVE */
#define OP_MKDIR 4           /* s1 path, a mode; an existing directory is fine */
#define OP_MKFILE 5          /* s1 path, a mode; an existing file is fine      */
#define OP_SYMLINK 6         /* s1 target, s2 link path                         */
#define OP_PIVOT_ROOT 7      /* s1 new root, s2 put old                         */
#define OP_UMOUNT 8          /* s1 path, a flags                                */
#define OP_CHDIR 9           /* s1 path                                         */
#define OP_SETHOSTNAME 10    /* s1 name                                         */
#define OP_LOOPBACK_UP 11
#define OP_OPEN_PTY 12       /* s1 ptmx path, a rows, b cols                    */
#define OP_SPAWN 13          /* a forwarded-signal mask; later ops run in the payload */
#define OP_SETSID 14
#define OP_USE_PTY 15        /* a: stdio fds (bits 0-2) the pty replaces; it is the controlling terminal */
#define OP_DROP_CAPS 16      /* a, b: capabilities kept (low, high 32 bits)    */
#define OP_NO_NEW_PRIVS 17
#define OP_DEATH_SIGNAL 18   /* a signal                                        */
#define OP_EXEC 19           /* s1 candidate paths, s2 argv, s3 envp (lists)   */
#define OP_BLOCKING_STDIO 20 /* clear O_NONBLOCK on 0, 1, 2                     */
#define OP_SETRLIMIT 21      /* a resource, s1 soft, s2 hard (decimal or "inf") */
#define OP_LANDLOCK 22       /* s1 readable, s2 writable, s3 device trees (lists) */
#define OP_SECCOMP 23        /* s2 the BPF program, a its length in bytes       */
#define OP_SETNS 24          /* s1 /proc/PID/ns/NAME, a its CLONE_NEW* type (nsbox exec) */
#define OP_CHROOT 25         /* s1 /proc/PID/root, s2 /proc/PID/ns/mnt: join the mounts, enter the root */
#define OP_LISTEN_TCP 26     /* a port, b an IPv4 address (0: 127.0.0.1) in the sandbox's network namespace; the socket goes to the parent */
#define OP_BIND 27           /* s1 host source, s2 target, s3 identity, a attributes set before attaching */
#define OP_HOLD 28           /* s1 host directory (none: close), s3 identity, a descriptor slot */
#define OP_PASS_FDS 29       /* s1 the caller's descriptors, decimal, space-separated: placed at their own numbers */
#define OP_WAIT_ID_MAP 30    /* read a byte on CONTROL_FD: 1 once newuidmap and newgidmap wrote the maps (idmap.c) */
#define OP_SECCOMP_NOTIFY 31 /* s2 the BPF program, a its length: a filter with a listener, taken by the parent (notify.c) */

/* Op flags: one bit each, whatever op reads them. */
#define OPF_RECURSIVE 1   /* SETATTR: the whole tree                                      */
#define OPF_NO_SYMLINKS 2 /* the target path may not pass through a symlink (see safe_path) */
#define OPF_NEW 4         /* MKDIR: the directory must not exist yet                      */
#define OPF_TREE 8        /* BIND: with the submounts below the source                    */
#define OPF_CREATE 16     /* WRITE_FILE: create or truncate                                */
#define OPF_LISTEN_PID 32 /* EXEC: LISTEN_PID= in envp becomes the payload's own pid       */
#define OPF_UDP 64        /* LISTEN_TCP: a bound UDP socket instead (the resolver's)        */
#define OPF_DIAG 128      /* LISTEN_TCP: a NETLINK_SOCK_DIAG socket instead (unix-diag.ts)   */

struct op {
  u32 type, flags;
  int a, b;
  u32 s1, s2, s3, s4;
};

struct plan_header {
  u32 magic, version, count, flags;
};

/* Records sent to the parent on the report pipe. */
#define REPORT_STEP 1     /* index: about to run op index (verbose only) */
#define REPORT_FAIL 2     /* index, value = errno                        */
#define REPORT_STARTED 3  /* value = payload pid inside the sandbox      */
#define REPORT_EXIT 4     /* value = payload wait status                 */
#define REPORT_PTY 5      /* the pty master was sent on the control socket */
#define REPORT_LISTEN 6   /* a listening socket was sent on the control socket */
#define REPORT_STOPPED 7  /* value = the signal that stopped the payload (a terminal's job only) */
#define REPORT_NOTIFY 8   /* value = the seccomp listener's descriptor in PID 1 (an ack byte follows on CONTROL_FD), or -EBUSY (none: nested) */

struct report {
  int kind, index, value, extra;
};

/* Fixed descriptors in the sandbox's processes. */
#define REPORT_FD 3
#define CONTROL_FD 4   /* Unix socket to the parent: the pty master, the proxy's listening socket */
#define PTY_SLAVE_FD 5
#define HOLD_LOWER_FD 6 /* an overlay's host layers, held by OP_HOLD (named /proc/self/fd/N) */
#define HOLD_UPPER_FD 7
#define HOLD_WORK_FD 8
/* Descriptors the executor needs at once, at most (the fixed ones, two a step opens for a
 * moment, and the network's: the notify listener, the resolver's and sock_diag's sockets on
 * their way out), with room for nsbox's own side under the same limit (Bun's own, the watcher's
 * pipes, the network's modules read at start under a small limit: 24 measured, with --net
 * allow=, so 32): fewer under
 * RLIMIT_NOFILE and it reports EMFILE before its first step. */
#define FDS_NEEDED 32
/* The network namespace is made by PID 1 itself, right after the clone (spawn.c); its failure
 * is reported as REPORT_FAIL at this index (src/kernel.ts STEP_CLONE). */
#define CLONE_NEWNET 0x40000000
#define STEP_CLONE (-2)
/* Descriptors of the caller passed to the payload (OP_PASS_FDS), at most. */
#define PASS_FDS_MAX 64

/* The parent's calls into the executor (nsbox_call in host.c; CALL in src/kernel.ts). */
#define CALL_SPAWN 1
#define CALL_PIPE 2
#define CALL_SOCKETPAIR 3
#define CALL_CLOSE 4
#define CALL_KILL 5
#define CALL_WAIT 6
#define CALL_RECV_FD 7
#define CALL_SET_WINSIZE 8
#define CALL_SET_BLOCKING 9
#define CALL_TERMINAL_SIZE 10
#define CALL_READABLE 11
#define CALL_LANDLOCK_ABI 12
#define CALL_UNIX_LISTEN 13
#define CALL_UNIX_ACCEPT 14
#define CALL_SEND_DATA_FD 15
#define CALL_UNIX_CONNECT 16
#define CALL_RECV_DATA_FD 17
#define CALL_PIDFD_OPEN 18
#define CALL_PIDFD_SIGNAL 19
#define CALL_PIDFD_RUNNING 20
#define CALL_FOREGROUND 21
#define CALL_REMOVE_DIR 22
#define CALL_NOFILE_LIMIT 23
#define CALL_TERMINAL_MODE 24
#define CALL_PTY_WRITE 25
#define CALL_EXIT 26
#define CALL_SYSCALL 27
#define CALL_WATCH 28

/* sendmsg/recvmsg, for passing the pty master to the parent */
struct iovec { void *base; size_t length; };
struct msghdr {
  void *name; u32 namelen; struct iovec *iov; size_t iovlen;
  void *control; size_t controllen; int flags;
};

/* safe_path.c */
int check_no_symlinks(const char *path, int parent_only);
int make_file_nofollow(const char *path, int mode);
int make_dir_nofollow(const char *path, int mode, int must_be_new);
int bind_checked(const char *source, const char *target, const char *identity, u32 attrs, int recursive);
int hold_checked(const char *path, const char *identity, int slot);
int nsbox_remove_dir(const char *path);

/* report.c */
void report(int kind, int index, int value);
void report_to(int fd, int kind, int index, int value);
/* plan.c: the plan's loop; run_ops.c: one op */
int run_plan(unsigned char *plan, u32 first, int verbose);
int run_op(unsigned char *plan, struct op *op);
/* proctitle.c: PID 1 shown as nsbox-init */
void proctitle_prepare(void);
void proctitle_unmap(void);
/* In nsbox, around the clone: MADV_DONTFORK, then MADV_DOFORK, on the mappings proctitle_unmap
 * would drop, but those holding an address of keep[]. */
void proctitle_fork_advice(const u64 *keep, int keeps, int advice);
/* init.c */
void run_init(int payload, u32 signal_mask);
void reset_signals(void);
void block_signals(void);
void unblock_signals(void);
/* pty.c */
int open_pty(const char *ptmx, int rows, int cols);
int send_fd(int sock, int fd);
int use_pty(int fds);
int pty_leader(void);
/* tty_mode.c */
int nsbox_terminal_mode(int fd, void *saved, int raw);
/* caps.c */
int drop_caps(u64 keep);
/* landlock.c, limits.c */
int apply_landlock(char **read, char **write, char **dev);
int set_rlimit(int resource, const char *soft, const char *hard);
int install_seccomp(const void *program, int bytes);
/* pass_fds.c: the caller's descriptors, kept apart from the fixed ones until the exec */
int pass_fds_prepare(unsigned char *plan, int *index);
int pass_fds_keep(int *keep, int n);
int pass_fds_place(void);
void set_listen_pid(char **envp);
extern int payload_report_fd;
/* join.c */
int join_namespace(const char *path, int nstype);
int enter_root(const char *root, const char *mntns);
/* idmap.c */
int wait_id_map(void);
/* net.c */
int loopback_up(void);
int listen_tcp(int port, u32 address, int udp);
int sock_diag(void);
/* notify.c */
int seccomp_notify(const void *program, int bytes, int index);
int nsbox_syscall(long *args);
int nsbox_watch(int *fds);

#endif
