/* Targets inside the sandbox's new root must not pass through a symlink: a shared project
 * may contain `link -> /home/you/.ssh`, and a mount, directory or file meant for it must not
 * land wherever the link points. The plan refuses such paths before fork; this is the same
 * rule applied again at the moment of use, by the kernel (openat2 RESOLVE_NO_SYMLINKS). */
#include "nsbox.h"

#define O_PATH 010000000
#define O_NOFOLLOW 0400000
#define RESOLVE_NO_SYMLINKS 0x04
#define ELOOP 40

struct open_how { u64 flags, mode, resolve; };

/* 0 when `path` (or, with parent_only, its directory) resolves without any symlink; -1 and
 * errno ELOOP (or the lookup's errno) otherwise. */
int check_no_symlinks(const char *path, int parent_only) {
  char buf[4096];
  size_t n = 0, cut = 0;
  while (path[n] && n < sizeof buf - 1) { buf[n] = path[n]; if (path[n] == '/') cut = n; n++; }
  buf[n] = 0;
  if (parent_only) buf[cut ? cut : 1] = 0;
  struct open_how how = { O_PATH | O_CLOEXEC, 0, RESOLVE_NO_SYMLINKS };
  int fd = (int)syscall(SYS_openat2, AT_FDCWD, buf, &how, sizeof how);
  if (fd < 0) return -1;
  close(fd);
  return 0;
}

/* Create an empty file to mount on, refusing to follow a symlink that stands at its place. */
int make_file_nofollow(const char *path, int mode) {
  int fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
  return fd < 0 ? -1 : close(fd);
}
