/* Landlock: a second wall behind the mount namespace. The plan names what may be read (the
 * whole view), what may be written (the writable mounts) and where devices are; the kernel
 * then refuses every other filesystem access to the payload, whatever the mounts allow.
 * Rights the running kernel does not know are left out (best effort by ABI); a kernel
 * without Landlock skips the step. */
#include "nsbox.h"

#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#define LANDLOCK_CREATE_RULESET_VERSION 1
#define LANDLOCK_RULE_PATH_BENEATH 1

#define LL_EXECUTE (1ULL << 0)
#define LL_WRITE_FILE (1ULL << 1)
#define LL_READ_FILE (1ULL << 2)
#define LL_READ_DIR (1ULL << 3)
#define LL_MAKE_AND_REMOVE 0x17B0ULL /* REMOVE_DIR, REMOVE_FILE, MAKE_DIR, MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_SYM */
#define LL_REFER (1ULL << 13)      /* ABI 2 */
#define LL_TRUNCATE (1ULL << 14)   /* ABI 3 */
#define LL_IOCTL_DEV (1ULL << 15)  /* ABI 5 */
#define LL_ALL_V1 0x1FFFULL
#define LL_FILE_RIGHTS (LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET 1ULL /* ABI 6 */
#define LL_SCOPE_SIGNAL 2ULL               /* ABI 6 */

struct ruleset_attr { u64 handled_access_fs, handled_access_net, scoped; };
struct path_beneath { u64 allowed_access; int parent_fd; } __attribute__((packed));

/* The Landlock ABI version of the running kernel, or 0 when it has none. */
int nsbox_landlock_abi(void) {
  long abi = syscall(SYS_landlock_create_ruleset, 0, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi < 0 ? 0 : (int)abi;
}

static int allow(int ruleset, const char *path, u64 access, u64 handled) {
  int fd = open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : -1;  /* an optional path that is not there */
  struct path_beneath rule = { access & handled, fd };
  long r = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
  if (r < 0 && errno == EINVAL) {  /* not a directory: only file rights apply */
    rule.allowed_access &= LL_FILE_RIGHTS;
    r = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
  }
  int e = errno;
  close(fd);
  errno = e;
  return r < 0 ? -1 : 0;
}

/* read: readable and executable trees; write: also writable; dev: device trees (read, write, ioctl). */
int apply_landlock(char **read, char **write, char **dev) {
  int abi = nsbox_landlock_abi();
  if (abi <= 0) return 0;
  u64 handled = LL_ALL_V1 | (abi >= 2 ? LL_REFER : 0) | (abi >= 3 ? LL_TRUNCATE : 0) | (abi >= 5 ? LL_IOCTL_DEV : 0);
  u64 ro = LL_EXECUTE | LL_READ_FILE | LL_READ_DIR;
  u64 rw = ro | LL_WRITE_FILE | LL_MAKE_AND_REMOVE | LL_REFER | LL_TRUNCATE;
  u64 device = LL_READ_FILE | LL_READ_DIR | LL_WRITE_FILE | LL_IOCTL_DEV | LL_TRUNCATE;
  struct ruleset_attr attr = { handled, 0, abi >= 6 ? LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL : 0 };
  size_t size = abi >= 6 ? sizeof attr : abi >= 4 ? 16 : 8;
  int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
  if (ruleset < 0) return -1;
  for (; *read; read++) if (allow(ruleset, *read, ro, handled) < 0) goto fail;
  for (; *write; write++) if (allow(ruleset, *write, rw, handled) < 0) goto fail;
  for (; *dev; dev++) if (allow(ruleset, *dev, device, handled) < 0) goto fail;
  if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) goto fail;
  close(ruleset);
  return 0;
fail:;
  int e = errno;
  close(ruleset);
  errno = e;
  return -1;
}
