/* Capabilities for the payload. Root in a user namespace holds every capability there, which
 * would let the payload remount the sandbox's read-only binds read-write or unmount what
 * hides the host. So everything not explicitly kept is dropped from the bounding set (execve
 * as uid 0 grants exactly the bounding set), the ambient set is cleared, and the effective,
 * permitted and inheritable sets are reduced to what is kept. */
#include "nsbox.h"

#define PR_CAPBSET_DROP 24
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#define CAPABILITY_VERSION_3 0x20080522

struct cap_header { u32 version; int pid; };
struct cap_data { u32 effective, permitted, inheritable; };

int drop_caps(u64 keep) {
  for (int cap = 0; cap < 64; cap++) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL) break;  /* past the kernel's last capability */
      return -1;
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return -1;
  struct cap_header header = { CAPABILITY_VERSION_3, 0 };
  struct cap_data data[2] = { { (u32)keep, (u32)keep, (u32)keep },
                              { (u32)(keep >> 32), (u32)(keep >> 32), (u32)(keep >> 32) } };
  if (syscall(SYS_capset, &header, data) < 0) return -1;
  /* A payload that is not uid 0 inside keeps capabilities across execve only as ambient ones. */
  for (int cap = 0; cap < 64; cap++)
    if ((keep & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) return -1;
  return 0;
}
