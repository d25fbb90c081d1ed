/* The entry point Bun calls: clone the sandbox's first process straight into its new
 * namespaces, and in that child run the plan. Nothing after the clone runs JavaScript. */
#include "nsbox.h"


struct clone_header {
  struct plan_header plan;
  u32 clone_flags;
};

/* Close every descriptor numbered `low` or more but those in keep[0..n), sorted ascending:
 * Bun's event loop, its sockets and files must not leak into the sandbox, and a process with
 * few descriptors to spare then has room to place its own. */
static void close_except(int low, const int *keep, int n) {
  for (int i = 0; i < n; i++) {
    if (keep[i] < low) continue;
    if (keep[i] > low) syscall(SYS_close_range, low, keep[i] - 1, 0);
    low = keep[i] + 1;
  }
  syscall(SYS_close_range, low, ~0U, 0);
}

/* In the child: put the descriptors it keeps at fixed numbers (0-2 stdio when given, then
 * REPORT_FD and CONTROL_FD), keep the copies of the caller's passed descriptors (pass_fds.c),
 * and close every other one. Each source is first copied to a free number at or above `count`,
 * all before any move, so that no move overwrites a source not yet copied. `report_at` follows
 * the report pipe, for telling the parent why this failed. */
static int place_fds(const int *source, int count, int *report_at) {
  int keep[8 + PASS_FDS_MAX], copy[8], i, j, n = 0;
  for (i = 0; i < count; i++) {
    if (source[i] < count) continue;
    for (j = n++; j > 0 && keep[j - 1] > source[i]; j--) keep[j] = keep[j - 1];
    keep[j] = source[i];
  }
  close_except(count, keep, pass_fds_keep(keep, n));
  for (i = 0; i < count; i++) {
    copy[i] = -1;
    if (source[i] >= 0 && (copy[i] = fcntl(source[i], F_DUPFD_CLOEXEC, count)) < 0) return -1;
  }
  *report_at = copy[3];
  for (i = 0; i < count; i++) {
    if (copy[i] >= 0) {
      if (dup3(copy[i], i, i > 2 ? O_CLOEXEC : 0) < 0) return -1;
    } else if (i > 2) {
      close(i);
    }
  }
  *report_at = REPORT_FD;
  close_except(count, keep, pass_fds_keep(keep, 0));
  return 0;
}

/* The clone of this process, with its own copy of the plan (outside Bun's heap, which the clone
 * does not get: proctitle_fork_advice), and every signal blocked until it has reset Bun's
 * handlers, which would run Bun's code there. Returns its pid, or -1 with errno. */
static long clone_sandbox(unsigned char **plan, int length, u32 flags) {
  u64 all = ~0ULL, mask = 0, keep[5];
  unsigned char *copy = mmap(0, (size_t)length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (copy == MAP_FAILED) return -1;
  for (int i = 0; i < length; i++) copy[i] = (*plan)[i];
  keep[0] = (u64)&keep;               /* this stack */
  keep[1] = (u64)__errno_location();  /* this thread's TLS */
  keep[2] = (u64)&clone_sandbox;      /* the executor's code */
  keep[3] = (u64)&payload_report_fd;  /* and its data */
  keep[4] = (u64)copy;                /* the plan */
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &mask, 8);
  proctitle_fork_advice(keep, 5, MADV_DONTFORK);
  long pid = syscall(SYS_clone, (unsigned long)flags | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) {
    *plan = copy;
    return 0;
  }
  int e = errno;
  proctitle_fork_advice(keep, 5, MADV_DOFORK);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, 0, 8);
  munmap(copy, (size_t)length);
  errno = e;
  return pid;
}

/* Returns the pid of the sandbox's first process (its PID 1) as the host sees it, or -errno
 * when the kernel refused to create the namespaces. */
int nsbox_spawn(unsigned char *plan, int length, int report_w, int pty_sock,
                int in, int out, int err) {
  struct clone_header *header = (struct clone_header *)plan;
  if (length < (int)sizeof *header || header->plan.magic != PLAN_MAGIC ||
      header->plan.version != PLAN_VERSION)
    return -EINVAL;
  /* Every namespace but the network's comes with the clone. Making a network namespace costs
   * the kernel about 1.6 ms (its loopback, its sysctls): done by the child first thing, with
   * unshare(2), that time is the sandbox's own and the caller's thread (Bun's JavaScript thread,
   * which a library process shares among all its sandboxes) goes on at once. The child holds
   * every capability in its new user namespace, so the new network namespace is owned by it
   * exactly as with the clone; nothing runs in the host's network namespace meanwhile. */
  u32 flags = header->clone_flags;
  long pid = clone_sandbox(&plan, length, flags & ~(u32)CLONE_NEWNET);
  if (pid < 0) return -errno;
  if (pid == 0) {
    if ((flags & CLONE_NEWNET) && unshare(CLONE_NEWNET) < 0) {
      report_to(report_w, REPORT_FAIL, STEP_CLONE, errno);
      _exit(125);
    }
    header = (struct clone_header *)plan;
    int fds[5] = { in, out, err, report_w, pty_sock }, report_at = report_w, index = -1;
    u64 limit[2] = { 0, 0 };
    reset_signals();
    block_signals();
    /* Too few descriptors allowed: say so before the first step, rather than fail at a
     * random one (index -1: before any step; the parent words it). */
    if (getrlimit(RLIMIT_NOFILE, limit) == 0 && limit[0] < FDS_NEEDED) {
      report_to(report_w, REPORT_FAIL, -1, EMFILE);
      _exit(125);
    }
    /* The caller's descriptors first, copied away from the numbers placed next. */
    if (pass_fds_prepare(plan, &index) < 0) {
      report_to(report_w, REPORT_FAIL, index, errno);
      _exit(125);
    }
    if (place_fds(fds, 5, &report_at) < 0) {
      report_to(report_at, REPORT_FAIL, -1, errno);
      _exit(125);
    }
    proctitle_prepare();
    run_plan(plan, 0, header->plan.flags & PLAN_VERBOSE);
    _exit(125);
  }
  return (int)pid;
}
