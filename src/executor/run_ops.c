/* One operation of the plan: one switch, no decisions. -1 with errno when it fails (plan.c
 * reports it); OP_SPAWN is plan.c's own. */
#include "nsbox.h"

struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd; };

static size_t length_of(const char *s) { size_t n = 0; while (s[n]) n++; return n; }

static char *plan_string(unsigned char *plan, u32 offset) { return offset ? (char *)(plan + offset) : 0; }

/* A list is an 8-aligned, zero-terminated array of string offsets; turn it into a char* array
 * in place (this is the child's own copy of the plan). */
static char **plan_list(unsigned char *plan, u32 offset) {
  u64 *slot = (u64 *)(plan + offset), *p;
  for (p = slot; *p; p++) *p = (u64)(plan + *p);
  return (char **)slot;
}

static int write_file(const char *path, const char *data, int length, int mode, int create) {
  int fd = open(path, O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), mode);
  if (fd < 0) return -1;
  while (length > 0) {
    ssize_t n = write(fd, data, length);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { int e = errno; close(fd); errno = e; return -1; }
    data += n, length -= n;
  }
  return close(fd);
}

static int make_file(const char *path, int mode) {
  int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, mode);
  return fd < 0 ? -1 : close(fd);
}

/* execvp's rule over the candidate paths the plan resolved from PATH: a permission error is
 * remembered while later candidates are tried; any error but "not there" stops the search. */
static int exec_first(char **candidates, char **argv, char **envp) {
  int saved = ENOENT;
  for (; *candidates; candidates++) {
    execve(*candidates, argv, envp);
    if (errno == EACCES) saved = EACCES;
    else if (errno != ENOENT && errno != ENOTDIR) return errno;
  }
  return saved;
}

/* The symlink rule for ops flagged OPF_NO_SYMLINKS: which path, and whether it must exist yet. */
static int check_target(struct op *op, char *s1, char *s2) {
  switch (op->type) {
  case OP_MOUNT: return check_no_symlinks(s2, 0);
  case OP_SETATTR: return check_no_symlinks(s1, 0);
  case OP_MKFILE: return check_no_symlinks(s1, 1);
  case OP_SYMLINK: return check_no_symlinks(s2, 1);
  }
  return 0;
}

int run_op(unsigned char *plan, struct op *op) {
  char *s1 = plan_string(plan, op->s1), *s2 = plan_string(plan, op->s2);
  char *s3 = plan_string(plan, op->s3), *s4 = plan_string(plan, op->s4);
  struct mount_attr attr = { (u32)op->a, (u32)op->b, 0, 0 };
  if ((op->flags & OPF_NO_SYMLINKS) && check_target(op, s1, s2) < 0) return -1;
  switch (op->type) {
  case OP_WRITE_FILE: return write_file(s1, s2, op->a, op->b, op->flags & OPF_CREATE);
  case OP_MOUNT: return mount(s1, s2, s3, (u32)op->a, s4);
  case OP_SETATTR:
    return (int)syscall(SYS_mount_setattr, AT_FDCWD, s1, op->flags & OPF_RECURSIVE ? AT_RECURSIVE : 0,
                        &attr, sizeof attr);
  case OP_MKDIR:
    if (op->flags & OPF_NO_SYMLINKS) return make_dir_nofollow(s1, op->a, op->flags & OPF_NEW);
    if (mkdir(s1, op->a) == 0) return chmod(s1, op->a);  /* the mode asked for, whatever the umask */
    return errno == EEXIST ? 0 : -1;
  case OP_BIND: return bind_checked(s1, s2, s3, (u32)op->a, op->flags & OPF_TREE);
  case OP_HOLD: return hold_checked(s1, s3, op->a);
  case OP_MKFILE: return (op->flags & OPF_NO_SYMLINKS) ? make_file_nofollow(s1, op->a) : make_file(s1, op->a);
  case OP_SYMLINK: return symlink(s1, s2);
  case OP_PIVOT_ROOT: return (int)syscall(SYS_pivot_root, s1, s2);
  case OP_UMOUNT: return umount2(s1, op->a);
  case OP_CHDIR: return chdir(s1);
  case OP_SETHOSTNAME: return sethostname(s1, length_of(s1));
  case OP_LOOPBACK_UP: return loopback_up();
  case OP_OPEN_PTY: return open_pty(s1, op->a, op->b);
  case OP_LISTEN_TCP: return (op->flags & OPF_DIAG) ? sock_diag() : listen_tcp(op->a, (u32)op->b, op->flags & OPF_UDP);
  case OP_SETSID: return setsid();
  case OP_USE_PTY: return use_pty(op->a);
  case OP_DROP_CAPS: return drop_caps(((u64)(u32)op->b << 32) | (u32)op->a);
  case OP_NO_NEW_PRIVS: return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  case OP_DEATH_SIGNAL: return prctl(PR_SET_PDEATHSIG, op->a, 0, 0, 0);
  case OP_BLOCKING_STDIO:
    for (int fd = 0; fd < 3; fd++) {
      int flags = fcntl(fd, F_GETFL);
      if (flags >= 0 && (flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    }
    return 0;
  case OP_SETRLIMIT: return set_rlimit(op->a, s1, s2);
  case OP_LANDLOCK: return apply_landlock(plan_list(plan, op->s1), plan_list(plan, op->s2), plan_list(plan, op->s3));
  case OP_SECCOMP: return install_seccomp(s2, op->a);
  case OP_SECCOMP_NOTIFY: return seccomp_notify(s2, op->a, (int)(op - (struct op *)(plan + 32)));
  case OP_SETNS: return join_namespace(s1, op->a);
  case OP_CHROOT: return enter_root(s1, s2);
  case OP_WAIT_ID_MAP: return wait_id_map();
  case OP_PASS_FDS: return pass_fds_place();
  case OP_EXEC: {
    char **envp = plan_list(plan, op->s3);
    if (op->flags & OPF_LISTEN_PID) set_listen_pid(envp);
    errno = exec_first(plan_list(plan, op->s1), plan_list(plan, op->s2), envp);
    return -1;
  }
  }
  errno = EINVAL;
  return -1;
}
