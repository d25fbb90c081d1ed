/* Paths nsbox uses must not lead where a symlink says. Targets inside the sandbox's new root: a
 * shared project may contain `link -> /home/you/.ssh`, and a mount, directory or file meant for
 * it must not land wherever the link points. Host sources (binds, overlay layers, overlay upper
 * and work directories): the payload or another user may swap a checked directory for a symlink
 * between the plan and the mount. So each is opened once, by the kernel's rule (openat2
 * RESOLVE_NO_SYMLINKS), checked to be the very file the plan checked (type, device, inode), and
 * used through that descriptor (open_tree + move_mount): no check-then-use by name. */
#include "nsbox.h"

#define RESOLVE_NO_SYMLINKS 0x04
#define AT_EMPTY_PATH 0x1000
#define AT_REMOVEDIR 0x200
#define OPEN_TREE_CLONE 1
#define MOVE_MOUNT_F_EMPTY_PATH 0x04
#define MOVE_MOUNT_T_EMPTY_PATH 0x40
#define S_IFMT 0170000
#define S_IFDIR 0040000
#define S_IFLNK 0120000
#define S_IFCHR 0020000
#define AT_SYMLINK_NOFOLLOW 0x100
#define STATX_BASIC_STATS 0x7ff

int openat(int dirfd, const char *path, int flags, ...);
int mkdirat(int dirfd, const char *path, unsigned int mode);
int unlinkat(int dirfd, const char *path, int flags);
int fchmod(int fd, unsigned int mode);
int getuid(void);

struct open_how { u64 flags, mode, resolve; };
struct statx_ts { long long sec; u32 nsec; int reserved; };
struct statx_buf {
  u32 mask, blksize; u64 attributes;
  u32 nlink, uid, gid; unsigned short mode, spare0;
  u64 ino, size, blocks, attributes_mask;
  struct statx_ts atime, btime, ctime, mtime;
  u32 rdev_major, rdev_minor, dev_major, dev_minor;
  u64 spare[14];
};

/* Copy `path` into `buf` (`size` bytes) and return the offset of its last '/'; -1 with
 * ENAMETOOLONG when it does not fit. Cut short, the parent would be a prefix of the real one and
 * the name after it a path of several components, resolved by mkdirat/unlinkat with symlinks
 * followed: the very thing these helpers refuse. */
static long split_path(const char *path, char *buf, size_t size) {
  size_t n = 0, cut = 0;
  for (; path[n]; n++) {
    if (n >= size - 1) { errno = ENAMETOOLONG; return -1; }
    buf[n] = path[n];
    if (path[n] == '/') cut = n;
  }
  buf[n] = 0;
  return (long)cut;
}

/* Open `path` (O_PATH unless `flags` say otherwise) when no component of it is a symlink. */
static int open_nofollow(const char *path, int flags) {
  struct open_how how = { (u64)(flags | O_CLOEXEC), 0, RESOLVE_NO_SYMLINKS };
  return (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
}

/* 0 when `path` (or, with parent_only, its directory) resolves without any symlink; -1 and
 * errno ELOOP (or the lookup's errno) otherwise. */
int check_no_symlinks(const char *path, int parent_only) {
  char buf[4096];
  long cut = split_path(path, buf, sizeof buf);
  if (cut < 0) return -1;
  if (parent_only) buf[cut ? cut : 1] = 0;
  int fd = open_nofollow(buf, O_PATH);
  if (fd < 0) return -1;
  close(fd);
  return 0;
}

/* Create an empty file to mount on, refusing to follow a symlink that stands at its place. */
int make_file_nofollow(const char *path, int mode) {
  int fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
  return fd < 0 ? -1 : close(fd);
}

/* A directory at `path`, reached without a symlink, with the mode asked for (whatever the
 * umask): made in its parent held by descriptor, opened without following, changed through
 * that descriptor. An existing directory is fine unless `must_be_new`. */
int make_dir_nofollow(const char *path, int mode, int must_be_new) {
  char parent[4096];
  long cut = split_path(path, parent, sizeof parent);
  if (cut < 0) return -1;
  parent[cut ? cut : 1] = 0;
  const char *name = path + cut + 1;
  int dir = open_nofollow(parent, O_PATH | O_DIRECTORY);
  if (dir < 0) return -1;
  int made = mkdirat(dir, name, mode) == 0;
  if (!made && (errno != EEXIST || must_be_new)) { int e = errno; close(dir); errno = e; return -1; }
  int fd = made ? openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                : openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int e = errno;
  close(dir);
  if (fd < 0) { errno = e; return -1; }
  int r = made ? fchmod(fd, mode) : 0;
  e = errno;
  close(fd);
  errno = e;
  return r;
}

static u64 parse_u64(const char **s) {
  u64 v = 0;
  while (**s >= '0' && **s <= '9') v = v * 10 + (u64)(*(*s)++ - '0');
  if (**s == ':') (*s)++;
  return v;
}

/* Whether fd is the file the plan checked: `identity` is "TYPE:MAJOR:MINOR:INODE" (TYPE the
 * S_IFMT bits), or "mine" for a directory of this user that no one else may write. */
static int is_checked(int fd, const char *identity) {
  struct statx_buf st;
  if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &st) < 0) return -1;
  if (identity[0] == 'm') {
    if ((st.mode & S_IFMT) != S_IFDIR || st.uid != (u32)getuid() || (st.mode & 022)) { errno = EPERM; return -1; }
    return 0;
  }
  const char *p = identity;
  u64 type = parse_u64(&p), major = parse_u64(&p), minor = parse_u64(&p), ino = parse_u64(&p);
  if ((st.mode & S_IFMT) != type || st.dev_major != major || st.dev_minor != minor || st.ino != ino) {
    errno = ESTALE;
    return -1;
  }
  return 0;
}

/* Open a host path the plan checked, without following symlinks, and make sure it is still that
 * file; -1 with ELOOP (a symlink appeared), ESTALE (another file is there now) or EPERM. */
static int open_checked(const char *path, const char *identity) {
  int fd = open_nofollow(path, O_PATH);
  if (fd < 0) return -1;
  if (identity && is_checked(fd, identity) < 0) { int e = errno; close(fd); errno = e; return -1; }
  return fd;
}

/* BIND: a copy of the host tree at `source` (held from the check), made read-only and so on
 * while still detached (no moment where it is attached writable), then attached at `target`
 * (itself opened without following symlinks). */
int bind_checked(const char *source, const char *target, const char *identity, u32 attrs, int recursive) {
  int src = open_checked(source, identity);
  if (src < 0) return -1;
  int tree = (int)syscall(SYS_open_tree, src, "", OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0));
  int e = errno;
  close(src);
  if (tree < 0) { errno = e; return -1; }
  int r = 0, dst = -1;
  if (attrs) {
    u64 attr[4] = { attrs, 0, 0, 0 };
    r = (int)syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), attr, sizeof attr);
  }
  if (r == 0 && (dst = open_nofollow(target, O_PATH)) < 0) r = -1;
  if (r == 0) r = (int)syscall(SYS_move_mount, tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
  e = errno;
  if (dst >= 0) close(dst);
  close(tree);
  errno = e;
  return r;
}

/* HOLD: keep a checked host directory open at descriptor `slot`, for an overlay to name as
 * /oldroot/proc/self/fd/SLOT; without a path, close the slot. */
int hold_checked(const char *path, const char *identity, int slot) {
  if (!path) { close(slot); return 0; }
  int fd = open_checked(path, identity);
  if (fd < 0) return -1;
  if (fd != slot && dup3(fd, slot, O_CLOEXEC) < 0) { int e = errno; close(fd); errno = e; return -1; }
  if (fd != slot) close(fd);
  return 0;
}

/* Host side, after the run: remove an overlay work directory. It may sit in a share, where the
 * payload can put anything in it: nothing below it is followed (every entry is opened relative
 * to its held parent, O_NOFOLLOW), and the top must still be a directory of this user. */
struct dirent64_head { u64 ino; long long off; unsigned short reclen; unsigned char type; char name[]; };

/* What overlayfs itself leaves in a work directory: its temporary names (#1a2b), whiteouts (char
 * 0:0), and links. Anything else was put there: the payload can rename a directory of the share
 * into the work directory's name, and one holding files it may not touch inside (`--ro
 * ./data/keep`, `--hide ./data/secret`: mount points there, which it cannot move, but their parent
 * it can) must not lose them to nsbox. Such files are left, and the directories holding them. */
static int overlay_leftover(int dir, const char *name) {
  struct statx_buf st;
  if (name[0] == '#') return 1;
  if (syscall(SYS_statx, dir, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st) < 0) return 0;
  u32 type = st.mode & S_IFMT;
  return type == S_IFLNK || (type == S_IFCHR && st.rdev_major == 0 && st.rdev_minor == 0);
}

/* Remove one entry of `dir`; a directory is opened up (overlayfs leaves work/work with mode 000)
 * and emptied through descriptors. 1 when it is gone. */
static void empty_dir(int dir, int depth);
static int remove_entry(int dir, const char *name, int depth) {
  int sub = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (sub < 0) return overlay_leftover(dir, name) && unlinkat(dir, name, 0) == 0;
  char proc[32] = "/proc/self/fd/";
  int digits = 1, v = sub;
  for (int t = sub; t >= 10; t /= 10) digits++;
  for (int k = digits - 1; k >= 0; k--, v /= 10) proc[14 + k] = (char)('0' + v % 10);
  proc[14 + digits] = 0;
  chmod(proc, 0700); /* the inode held, not a name: chmod follows only the descriptor's magic link */
  int rd = openat(sub, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  close(sub);
  if (rd < 0) return 0;
  empty_dir(rd, depth + 1);
  close(rd);
  return unlinkat(dir, name, AT_REMOVEDIR) == 0;
}

static void empty_dir(int dir, int depth) {
  char buf[4096];
  if (depth > 64) return;
  /* Entries are removed while reading: read again from the start until nothing more goes. */
  for (int removed = 1; removed;) {
    long n;
    removed = 0;
    syscall(SYS_lseek, dir, 0, 0);
    while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
      for (long at = 0; at < n;) {
        struct dirent64_head *d = (struct dirent64_head *)(buf + at);
        at += d->reclen;
        if (d->name[0] == '.' && (!d->name[1] || (d->name[1] == '.' && !d->name[2]))) continue;
        removed += remove_entry(dir, d->name, depth);
      }
    }
  }
}

/* Host side: remove the directory `path` and everything in it, following nothing; -errno. */
int nsbox_remove_dir(const char *path) {
  int fd = open_nofollow(path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -errno;
  if (is_checked(fd, "mine") < 0) { int e = errno; close(fd); return -e; }
  empty_dir(fd, 0);
  close(fd);
  char parent[4096];
  long cut = split_path(path, parent, sizeof parent);
  if (cut < 0) return -errno;
  parent[cut ? cut : 1] = 0;
  int dir = open_nofollow(parent, O_PATH | O_DIRECTORY);
  if (dir < 0) return -errno;
  int r = unlinkat(dir, path + cut + 1, AT_REMOVEDIR) < 0 ? -errno : 0;
  close(dir);
  return r;
}
