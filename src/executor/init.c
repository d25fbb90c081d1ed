/* PID 1 of the sandbox. The kernel drops signals that PID 1 has no handler for, and makes it
 * the parent of every orphan; so it forwards the signals nsbox asks for to the payload,
 * reaps every child, and leaves with the payload's status. Its exit ends the PID namespace,
 * which kills whatever the payload left running. */
#include "nsbox.h"

typedef void (*handler_t)(int);
handler_t signal(int sig, handler_t handler);
#define SIG_DFL ((handler_t)0)

static volatile int payload_pid;

static void forward(int sig) {
  if (payload_pid > 0) kill(payload_pid, sig);
}

/* Bun's handlers and blocked signals came along with the clone: start from the defaults. */
void reset_signals(void) {
  u64 none = 0;
  for (int sig = 1; sig < 65; sig++) signal(sig, SIG_DFL);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);
}

/* The kernel drops signals that PID 1 has no handler for. Until run_init installs its
 * handlers, PID 1 keeps them blocked, so that a signal sent during setup waits instead of
 * being lost; the payload starts from reset_signals(), with nothing blocked. */
void block_signals(void) {
  u64 all = ~0ULL;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, 0, 8);
}

void run_init(int payload, u32 signal_mask) {
  payload_pid = payload;
  report(REPORT_STARTED, 0, payload);
  proctitle_unmap();  /* the payload has exec'd: Bun's memory is no longer shared with anyone */
  /* Keep only the report pipe: stdio and the pty belong to the payload, so the parent sees
   * end-of-file on them when the payload's side is done. */
  syscall(SYS_close_range, 0, REPORT_FD - 1, 0);
  syscall(SYS_close_range, REPORT_FD + 1, ~0U, 0);
  for (int sig = 1; sig < 32; sig++)
    if (signal_mask & (1u << sig)) signal(sig, forward);
  u64 none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);  /* pending ones are forwarded now */
  for (;;) {
    int status = 0, pid = waitpid(-1, &status, 0);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) _exit(125);
    if (pid != payload) continue;
    report(REPORT_EXIT, 0, status);
    _exit((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f));
  }
}
