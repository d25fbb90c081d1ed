/* The registry's Unix socket, host side: the nsbox process that runs a named sandbox serves it;
 * stop, exec and inspect connect, learn who serves it (SO_PEERCRED) and receive a pidfd of the
 * sandbox's PID 1 (SCM_RIGHTS). Policy (which peer to believe) is in src/registry.ts. */
#include "nsbox.h"

#define SO_PEERCRED 17
#define SO_RCVTIMEO 20
#define SO_SNDTIMEO 21
#define SOCK_NONBLOCK O_NONBLOCK
#define SYS_pidfd_send_signal 424
#define SYS_pidfd_open 434
int connect(int fd, const void *addr, unsigned length);
int accept4(int fd, void *addr, void *length, int flags);
int getsockopt(int fd, int level, int name, void *value, unsigned *length);
int setsockopt(int fd, int level, int name, const void *value, unsigned length);

struct sockaddr_un { unsigned short family; char path[108]; };

static int unix_address(const char *path, struct sockaddr_un *addr) {
  int n = 0;
  addr->family = AF_UNIX;
  for (; path[n]; n++) {
    if (n >= 107) return -1;
    addr->path[n] = path[n];
  }
  addr->path[n] = 0;
  return 0;
}

/* A listening socket at `path` (which must not exist), non-blocking. Its mode is the umask's:
 * no chmod, which would follow a symlink swapped in after bind; the directory is 0700. */
int nsbox_unix_listen(const char *path) {
  struct sockaddr_un addr;
  if (unix_address(path, &addr) < 0) return -EINVAL;
  int fd = socket(AF_UNIX, SOCK_STREAM | O_CLOEXEC | SOCK_NONBLOCK, 0), e;
  if (fd < 0) return -errno;
  if (bind(fd, &addr, sizeof addr) < 0 || listen(fd, 16) < 0) {
    e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

/* The peer's credentials as the kernel recorded them at connect/listen: pid, uid, gid. */
static int peer(int fd, int *cred) {
  unsigned length = 12;
  return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &length) < 0 ? -errno : 0;
}

/* Accept one waiting client (-EAGAIN when none), its pid, uid, gid in cred[0..2]. */
int nsbox_unix_accept(int listener, int *cred) {
  int fd = accept4(listener, 0, 0, O_CLOEXEC), e;
  if (fd < 0) return -errno;
  if ((e = peer(fd, cred)) < 0) {
    close(fd);
    return e;
  }
  return fd;
}

/* Send `length` bytes of data, with descriptor `fd` attached (to the first part) unless it is
 * negative. A large state goes out in parts: sendmsg(2) returns after a part when a signal
 * arrives, and the client would read a cut-off state. */
int nsbox_send_data_fd(int sock, const void *data, int length, int fd) {
  u64 control[3] = { 20, 0, 0 };
  int *head = (int *)control;
  head[2] = 1, head[3] = 1, head[4] = fd; /* SOL_SOCKET, SCM_RIGHTS */
  struct timeval_ { long s, us; } limit = { 1, 0 };
  setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  int flags = fcntl(sock, F_GETFL);
  if (flags >= 0) fcntl(sock, F_SETFL, flags & ~O_NONBLOCK);
  for (int sent = 0; sent < length || (sent == 0 && length == 0);) {
    struct iovec iov = { (char *)data + sent, (size_t)(length - sent) };
    struct msghdr msg = { 0, 0, &iov, 1, fd >= 0 && sent == 0 ? control : 0, fd >= 0 && sent == 0 ? 24 : 0, 0 };
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? -errno : -EIO;
    sent += (int)n;
    if (length == 0) break;
  }
  return 0;
}

/* Connect to the socket at path (p, NUL-terminated, at most 107 bytes); the server's pid, uid,
 * gid are written at p + 112. The connection and replies wait at most `seconds`: a socket
 * whose listener never accepts (its backlog full, e.g. one a sandbox bound in a shared runtime
 * directory) would otherwise block connect(2) for as long as its owner likes (EAGAIN instead). */
int nsbox_unix_connect(char *p, int seconds) {
  struct sockaddr_un addr;
  if (unix_address(p, &addr) < 0) return -EINVAL;
  int fd = socket(AF_UNIX, SOCK_STREAM | O_CLOEXEC, 0), e;
  if (fd < 0) return -errno;
  struct timeval_ { long s, us; } limit = { seconds, 0 };
  if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) < 0 ||
      connect(fd, &addr, sizeof addr) < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) < 0 ||
      (e = peer(fd, (int *)(p + 112))) < 0) {
    e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

/* Receive up to length - 4 bytes at buf + 4 (until end-of-file); the first descriptor that
 * came with them is stored at buf (-1 when none). Returns the byte count or -errno. */
int nsbox_recv_data_fd(int sock, char *buf, int length) {
  int total = 0, *got = (int *)buf;
  *got = -1;
  while (total < length - 4) {
    u64 control[3] = { 0, 0, 0 };
    struct iovec iov = { buf + 4 + total, (size_t)(length - 4 - total) };
    struct msghdr msg = { 0, 0, &iov, 1, control, sizeof control, 0 };
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    int *head = (int *)control;
    if (msg.controllen >= 20 && head[2] == 1 && head[3] == 1) {
      if (*got < 0) *got = head[4];
      else close(head[4]);
    }
    if (n == 0) break;
    total += (int)n;
  }
  return total;
}

int nsbox_pidfd_open(int pid) {
  long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return -errno;
  fcntl((int)fd, F_SETFD, FD_CLOEXEC);
  return (int)fd;
}

int nsbox_pidfd_signal(int pidfd, int sig) {
  return syscall(SYS_pidfd_send_signal, pidfd, sig, 0, 0) < 0 ? -errno : 0;
}

/* 1 while the process runs, 0 once it has exited (a zombie counts as exited), -errno. */
int nsbox_pidfd_running(int pidfd) {
  struct pollfd p = { pidfd, 1 /* POLLIN */, 0 };
  int r = poll(&p, 1, 0);
  return r < 0 ? -errno : r == 0;
}
