/* The entry point Bun calls: clone the sandbox's first process straight into its new
 * namespaces, and in that child run the plan. Nothing after the clone runs JavaScript. */
#include "nsbox.h"

struct clone_header {
  struct plan_header plan;
  u32 clone_flags;
};

#define F_DUPFD_CLOEXEC 1030

/* In the child: put the descriptors it keeps at fixed numbers (0-2 stdio when given, then
 * REPORT_FD and CONTROL_FD) and close every other one inherited from Bun: its event loop,
 * its sockets and files must not leak into the sandbox. Sources are first copied above
 * every number in play, so that no move overwrites a source not yet moved. */
static int place_fds(const int *source, int count) {
  int copy[8], base = 16, i;
  for (i = 0; i < count; i++) if (source[i] >= base) base = source[i] + 1;
  for (i = 0; i < count; i++) {
    copy[i] = -1;
    if (source[i] >= 0 && (copy[i] = fcntl(source[i], F_DUPFD_CLOEXEC, base)) < 0) return -1;
  }
  for (i = 0; i < count; i++) {
    if (copy[i] >= 0) {
      if (dup3(copy[i], i, i > 2 ? O_CLOEXEC : 0) < 0) return -1;
    } else if (i > 2) {
      close(i);
    }
  }
  return (int)syscall(SYS_close_range, count, ~0U, 0);
}

/* Returns the pid of the sandbox's first process (its PID 1) as the host sees it, or -errno
 * when the kernel refused to create the namespaces. */
int nsbox_spawn(unsigned char *plan, int length, int report_w, int pty_sock,
                int in, int out, int err) {
  struct clone_header *header = (struct clone_header *)plan;
  if (length < (int)sizeof *header || header->plan.magic != PLAN_MAGIC ||
      header->plan.version != PLAN_VERSION)
    return -EINVAL;
  long pid = syscall(SYS_clone, (unsigned long)header->clone_flags | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) return -errno;
  if (pid == 0) {
    int fds[5] = { in, out, err, report_w, pty_sock };
    reset_signals();
    block_signals();
    if (place_fds(fds, 5) < 0) _exit(125);
    run_ops(plan, 0, header->plan.flags & PLAN_VERBOSE);
    _exit(125);
  }
  return (int)pid;
}
