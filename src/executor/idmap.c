/* A multi-id map (src/plan/ids.ts) is written from outside: newuidmap and newgidmap, setuid
 * root, write this process's uid_map and gid_map after the clone made its user namespace, and
 * nothing here may run as root inside before they have. The parent runs them, then sends one
 * byte on the control socket: 1 when both maps are written. Anything else (0 when a helper
 * refused, end-of-file when the parent is gone) stops the plan at this step, with EPERM; the
 * parent words the helper's own message (src/id-map.ts). */
#include "nsbox.h"

int wait_id_map(void) {
  unsigned char byte = 0;
  ssize_t n;
  do n = read(CONTROL_FD, &byte, 1); while (n < 0 && errno == EINTR);
  if (n == 1 && byte == 1) return 0;
  if (n >= 0) errno = EPERM;
  return -1;
}
