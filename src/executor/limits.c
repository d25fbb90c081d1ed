/* Resource limits and the syscall filter: the last steps before exec. */
#include "nsbox.h"

int setrlimit(int resource, const void *limit);
#define PR_SET_SECCOMP 22
#define SECCOMP_MODE_FILTER 2

/* A decimal number, or "inf" for no limit. */
static u64 limit_value(const char *s) {
  u64 v = 0;
  if (s[0] == 'i') return ~0ULL;
  for (; *s >= '0' && *s <= '9'; s++) v = v * 10 + (u64)(*s - '0');
  return v;
}

int set_rlimit(int resource, const char *soft, const char *hard) {
  u64 limit[2] = { limit_value(soft), limit_value(hard) };
  return setrlimit(resource, limit);
}

/* Install a classic BPF program (an array of 8-byte sock_filter) built by the plan. */
int install_seccomp(const void *program, int bytes) {
  struct { unsigned short length; const void *filter; } prog = { (unsigned short)(bytes / 8), program };
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, (unsigned long)&prog, 0, 0);
}
