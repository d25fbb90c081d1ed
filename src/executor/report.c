/* The report pipe: fixed-size records from the sandbox's processes to the parent (nsbox.h
 * REPORT_*), which reads them in src/supervise.ts. */
#include "nsbox.h"

/* One record on `fd`; a signal may interrupt the write, nothing else stops it. */
void report_to(int fd, int kind, int index, int value) {
  struct report r = { kind, index, value, 0 };
  while (write(fd, &r, sizeof r) < 0 && errno == EINTR) {}
}

void report(int kind, int index, int value) { report_to(REPORT_FD, kind, index, value); }
