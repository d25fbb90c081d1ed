/* nsbox exec: join a running sandbox's namespaces (user first, then the others) and its root.
 * Runs in a plain clone of the Bun process, which is single-threaded, as setns(CLONE_NEWUSER)
 * requires. The kernel refuses both steps to anyone but the sandbox's owner (or root). */
#include "nsbox.h"

int setns(int fd, int nstype);
int fchdir(int fd);
int chroot(const char *path);


/* s1 = /proc/PID/ns/NAME, nstype = its CLONE_NEW* flag. Until exec, the process is not
 * dumpable: processes already in the sandbox may not ptrace it or read its memory (a copy of
 * nsbox's) while it still holds the namespace's capabilities. */
int join_namespace(const char *path, int nstype) {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) return -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int r = setns(fd, nstype), e = errno;
  close(fd);
  errno = e;
  return r;
}

/* root = /proc/PID/root, mntns = /proc/PID/ns/mnt: both are opened while the host's /proc
 * is still this process's view, then the mount namespace is joined and its root (as the
 * sandbox's PID 1 sees it, after its pivot_root) becomes this process's root. */
int enter_root(const char *root, const char *mntns) {
  int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC), nsfd = -1, r = -1, e;
  if (rootfd < 0) return -1;
  if ((nsfd = open(mntns, O_RDONLY | O_CLOEXEC)) < 0) goto out;
  if (setns(nsfd, CLONE_NEWNS) < 0) goto out;
  if (fchdir(rootfd) < 0) goto out;
  r = chroot(".");
out:
  e = errno;
  if (nsfd >= 0) close(nsfd);
  close(rootfd);
  errno = e;
  return r;
}
