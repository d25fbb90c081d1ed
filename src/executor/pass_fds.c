/* Descriptors the caller hands the payload on purpose (OP_PASS_FDS; the plan chose and checked
 * them in src/plan/pass-fds.ts). Each must reach the payload at its own number, but the numbers
 * may be any, 3 to 8 included, where the executor keeps its fixed descriptors (nsbox.h *_FD).
 * So the sandbox's first process copies each one away at once, above FDS_NEEDED, close-on-exec
 * (a copy never lands on a number in use, so never on a passed one), keeps the copies while it
 * closes everything else, and the payload moves them to their numbers right before its exec.
 * Nothing else of the caller's reaches the payload. */
#include "nsbox.h"

int getpid(void);

static int pass_target[PASS_FDS_MAX], pass_copy[PASS_FDS_MAX], pass_count;

/* Where the payload's reports go from OP_PASS_FDS on: REPORT_FD may be one of the numbers. */
int payload_report_fd = REPORT_FD;

/* In the sandbox's first process, before its descriptors are placed: copy each descriptor the
 * PASS_FDS op names. -1 with errno on failure, and *index set to the op's index for the report. */
int pass_fds_prepare(unsigned char *plan, int *index) {
  struct plan_header *header = (struct plan_header *)plan;
  struct op *ops = (struct op *)(plan + 32);
  for (u32 i = 0; i < header->count; i++) {
    if (ops[i].type != OP_PASS_FDS) continue;
    const char *s = (const char *)(plan + ops[i].s1);
    *index = (int)i;
    while (*s) {
      int fd = 0;
      while (*s == ' ') s++;
      if (!*s) break;
      while (*s >= '0' && *s <= '9') fd = fd * 10 + (*s++ - '0');
      if (pass_count == PASS_FDS_MAX) { errno = EINVAL; return -1; }
      int copy = fcntl(fd, F_DUPFD_CLOEXEC, FDS_NEEDED);
      if (copy < 0) return -1;
      pass_target[pass_count] = fd, pass_copy[pass_count++] = copy;
    }
    return 0;
  }
  return 0;
}

/* Add the copies to `keep` (sorted, as close_except in spawn.c wants it); the new length. */
int pass_fds_keep(int *keep, int n) {
  for (int i = 0; i < pass_count; i++) {
    int j = n++;
    for (; j > 0 && keep[j - 1] > pass_copy[i]; j--) keep[j] = keep[j - 1];
    keep[j] = pass_copy[i];
  }
  return n;
}

/* OP_PASS_FDS, in the payload: each copy to its number, inheritable. The report pipe moves out of
 * the way first when its number is wanted (above every wanted one: no later move can land on it). */
int pass_fds_place(void) {
  int top = 2, report_wanted = 0;
  for (int i = 0; i < pass_count; i++) {
    if (pass_target[i] > top) top = pass_target[i];
    if (pass_target[i] == payload_report_fd) report_wanted = 1;
  }
  if (report_wanted) {
    int moved = fcntl(payload_report_fd, F_DUPFD_CLOEXEC, top + 1);
    if (moved < 0) return -1;
    payload_report_fd = moved;
  }
  for (int i = 0; i < pass_count; i++)
    if (dup3(pass_copy[i], pass_target[i], 0) < 0) return -1;
  for (int i = 0; i < pass_count; i++) close(pass_copy[i]);
  return 0;
}

/* OPF_LISTEN_PID: sd_listen_fds(3) takes descriptors only when LISTEN_PID is the pid of the
 * process that reads it, here the payload's in the sandbox's PID namespace, known only now. The
 * plan put a LISTEN_PID= entry in envp; it is pointed at the number. */
void set_listen_pid(char **envp) {
  static char entry[32] = "LISTEN_PID=";
  int pid = getpid(), digits = 1, at = 11;
  for (int t = pid; t >= 10; t /= 10) digits++;
  for (int k = digits - 1; k >= 0; k--, pid /= 10) entry[at + k] = (char)('0' + pid % 10);
  entry[at + digits] = 0;
  for (; *envp; envp++) {
    const char *e = *envp, *name = "LISTEN_PID=";
    while (*name && *e == *name) e++, name++;
    if (!*name) *envp = entry;
  }
}
