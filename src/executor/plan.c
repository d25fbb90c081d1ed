/* The plan's loop: run the ops in order, report each step (verbose) and the first failure as
 * (index, errno), and at OP_SPAWN start the payload, which runs the ops after it while this
 * process becomes the sandbox's init. */
#include "nsbox.h"

/* The payload is started the way posix_spawn starts a program: sharing PID 1's memory, on a
 * stack of its own, with PID 1 suspended until it execs or exits. PID 1 is a copy of the Bun
 * process, so a plain fork would copy, and the exec then tear down, Bun's whole page table.
 * Only system calls run in the payload before exec; its descriptors, signal handlers and
 * credentials are its own (no CLONE_FILES, CLONE_SIGHAND or CLONE_THREAD). */
int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...);

static unsigned char payload_stack[64 * 1024] __attribute__((aligned(16)));
static struct { unsigned char *plan; u32 first; int verbose; } payload;

static int payload_main(void *unused) {
  unblock_signals();
  run_plan(payload.plan, payload.first, payload.verbose);
  _exit(125);
  return 0;
}

static int spawn_payload(unsigned char *plan, u32 first, int verbose) {
  payload.plan = plan, payload.first = first, payload.verbose = verbose;
  return clone(payload_main, payload_stack + sizeof payload_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, 0);
}

int run_plan(unsigned char *plan, u32 first, int verbose) {
  struct plan_header *header = (struct plan_header *)plan;
  struct op *ops = (struct op *)(plan + 32);
  for (u32 i = first; i < header->count; i++) {
    /* From OP_PASS_FDS on, the payload's report pipe may have moved (pass_fds.c). */
    if (verbose) report_to(payload_report_fd, REPORT_STEP, i, 0);
    if (ops[i].type == OP_SPAWN) {
      /* PID 1's memory is a copy of nsbox's, its environment included. Not dumpable, it belongs
       * to the host's user namespace for ptrace and /proc: even a payload given CAP_SYS_PTRACE
       * (--cap-add) cannot read it. Set before the payload exists, which shares this memory until
       * its exec (a new, dumpable one); not earlier, since the id maps were written through
       * /proc/self. nsbox exec and inspect read the payload's /proc instead. */
      if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) { report(REPORT_FAIL, i, errno); _exit(125); }
      int pid = spawn_payload(plan, i + 1, verbose);
      if (pid < 0) { report(REPORT_FAIL, i, errno); _exit(125); }
      run_init(pid, (u32)ops[i].a);
    }
    if (run_op(plan, &ops[i]) < 0) {
      int e = errno;
      report_to(payload_report_fd, REPORT_FAIL, i, e);
      _exit(ops[i].type == OP_EXEC ? (e == ENOENT ? 127 : 126) : 125);
    }
    if (ops[i].type == OP_OPEN_PTY) report(REPORT_PTY, i, 0);
    if (ops[i].type == OP_LISTEN_TCP) report(REPORT_LISTEN, i, 0);
  }
  return 0;
}
