/* PID 1 of the sandbox. The kernel drops signals that PID 1 has no handler for, and makes it
 * the parent of every orphan; so it forwards the signals nsbox asks for to the payload,
 * reaps every child, and leaves with the payload's status. Its exit ends the PID namespace,
 * which kills whatever the payload left running.
 *
 * On a terminal it also leads the pty's session (pty.c), and is the payload's job control:
 * it tells nsbox when the payload stops (REPORT_STOPPED), and nsbox tells it, by signal, how
 * the job goes on: SIGCONT, as the pty's foreground job (nsbox is the user's foreground job);
 * SIGTTIN, in the background (nsbox was continued by `bg`): init then holds the pty's
 * foreground, so that the payload, reading it, is stopped by SIGTTIN like any background job
 * (and nsbox stops the same way). It signals only its own child and that child's group: never
 * a number the payload could have set, such as the pty's foreground group. */
#include "nsbox.h"

typedef void (*handler_t)(int);
handler_t signal(int sig, handler_t handler);
#define SIG_DFL ((handler_t)0)
#define SIG_IGN ((handler_t)1)

static volatile int payload_pid;
/* The pty's foreground group init took over for a background nsbox, given back on SIGCONT. */
static volatile int held_job;

static void forward(int sig) {
  if (payload_pid > 0) kill(payload_pid, sig);
}

/* Continue the payload's job: its process group (the terminal stops a job as a group) and the
 * payload itself, wherever its group now is. */
static void continue_payload(void) {
  int group = getpgid(payload_pid);
  if (group > 0) kill(-group, SIGCONT);
  kill(payload_pid, SIGCONT);
}

/* SIGCONT from nsbox: the job goes on in the pty's foreground. The group init held the
 * foreground for gets it back; the kernel refuses a group that is not of this session, and
 * then the payload's own group takes it. */
static void resume_foreground(int sig) {
  int group = held_job;
  held_job = 0;
  if (group > 0 && ioctl(PTY_SLAVE_FD, TIOCSPGRP, &group) < 0 && (group = getpgid(payload_pid)) > 0)
    ioctl(PTY_SLAVE_FD, TIOCSPGRP, &group);
  continue_payload();
}

/* SIGTTIN from nsbox: the job goes on in the background; init holds the pty's foreground. */
static void resume_background(int sig) {
  int group = 0, own = getpgid(0);
  if (ioctl(PTY_SLAVE_FD, TIOCGPGRP, &group) == 0 && group != own) {
    held_job = group;
    ioctl(PTY_SLAVE_FD, TIOCSPGRP, &own);
  }
  continue_payload();
}

/* The hexadecimal mask after `name` in /proc/self/status, or all ones when it is not found. */
static u64 status_mask(const char *status, const char *name) {
  for (const char *s = status; *s; s++) {
    const char *n = name, *t = s;
    while (*n && *t == *n) t++, n++;
    if (*n) continue;
    u64 v = 0;
    while (*t == ' ' || *t == '\t') t++;
    for (int digits = 0;; t++, digits++) {
      int d = *t >= '0' && *t <= '9' ? *t - '0' : *t >= 'a' && *t <= 'f' ? *t - 'a' + 10 : -1;
      if (d < 0) return digits ? v : ~0ULL;
      v = v << 4 | (u64)d;
    }
  }
  return ~0ULL;
}

/* Bun's handlers and blocked signals came along with the clone: start from the defaults. Only
 * the signals Bun handles or ignores need it (SigCgt and SigIgn: the kernel's word, read first
 * thing in the clone, from the host's /proc); all 64 when they can't be read. */
void reset_signals(void) {
  u64 none = 0, changed = ~0ULL;
  char status[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC), n = 0;
  if (fd >= 0) {
    for (ssize_t r; n < (int)sizeof status - 1; n += r) {
      r = read(fd, status + n, sizeof status - 1 - n);
      if (r < 0 && errno == EINTR) { r = 0; continue; }
      if (r <= 0) break;
    }
    close(fd);
    status[n] = 0;
    changed = status_mask(status, "\nSigIgn:") | status_mask(status, "\nSigCgt:");
  }
  for (int sig = 1; sig < 65; sig++)
    if (changed >> (sig - 1) & 1) signal(sig, SIG_DFL);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);
}

/* The payload, cloned from PID 1 before run_init: PID 1's handlers are the defaults already
 * (reset_signals), copied with the clone; only its mask (all blocked) is not the payload's. */
void unblock_signals(void) {
  u64 none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);
}

/* The kernel drops signals that PID 1 has no handler for. Until run_init installs its
 * handlers, PID 1 keeps them blocked, so that a signal sent during setup waits instead of
 * being lost; the payload starts with nothing blocked (unblock_signals). */
void block_signals(void) {
  u64 all = ~0ULL;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, 0, 8);
}

void run_init(int payload, u32 signal_mask) {
  int terminal = pty_leader();
  payload_pid = payload;
  report(REPORT_STARTED, 0, payload);
  proctitle_unmap();  /* the payload has exec'd: Bun's memory is no longer shared with anyone */
  /* Keep only the report pipe, and the pty's slave to steer its jobs: stdio belongs to the
   * payload, so the parent sees end-of-file on it when the payload's side is done. */
  syscall(SYS_close_range, 0, REPORT_FD - 1, 0);
  if (terminal) {
    syscall(SYS_close_range, REPORT_FD + 1, PTY_SLAVE_FD - 1, 0);
    syscall(SYS_close_range, PTY_SLAVE_FD + 1, ~0U, 0);
  } else {
    syscall(SYS_close_range, REPORT_FD + 1, ~0U, 0);
  }
  for (int sig = 1; sig < 32; sig++)
    if (signal_mask & (1u << sig)) signal(sig, forward);
  if (terminal) {
    signal(SIGCONT, resume_foreground);
    signal(SIGTTIN, resume_background);
    /* Init's own group is orphaned (its parent, nsbox, is in another session): setting the
     * foreground from it fails with EIO unless SIGTTOU is ignored. */
    signal(SIGTTOU, SIG_IGN);
  }
  u64 none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);  /* pending ones are forwarded now */
  for (;;) {
    int status = 0, pid = waitpid(-1, &status, terminal ? WUNTRACED : 0);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) _exit(125);
    if (pid != payload) continue;
    if ((status & 0xff) == 0x7f) {  /* stopped: nsbox stops too, and continues it (above) */
      report(REPORT_STOPPED, 0, (status >> 8) & 0xff);
      continue;
    }
    report(REPORT_EXIT, 0, status);
    _exit((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f));
  }
}
