/* Small helpers the parent Bun process calls: descriptors, waiting, the pty master. */
#include "nsbox.h"

#define SOCK_CLOEXEC O_CLOEXEC

int nsbox_pipe(int *fds) { return pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0; }

int nsbox_socketpair(int *fds) {
  return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0 ? -errno : 0;
}

int nsbox_close(int fd) { return close(fd) < 0 ? -errno : 0; }

int nsbox_kill(int pid, int sig) { return kill(pid, sig) < 0 ? -errno : 0; }

/* waitpid; returns the pid (0 with WNOHANG when still running) or -errno. */
int nsbox_wait(int pid, int *status, int options) {
  int r;
  do r = waitpid(pid, status, options); while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

/* Receive the pty master the sandbox sent over SCM_RIGHTS; -errno when none came. */
int nsbox_recv_fd(int sock) {
  char byte;
  u64 control[3] = { 0, 0, 0 };
  struct iovec iov = { &byte, 1 };
  struct msghdr msg = { 0, 0, &iov, 1, control, sizeof control, 0 };
  ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) return -errno;
  int *head = (int *)control;
  if (n == 0 || msg.controllen < 20 || head[2] != 1 || head[3] != 1) return -ENOENT;
  return head[4];
}

int nsbox_set_winsize(int fd, int rows, int cols) {
  unsigned short size[4] = { (unsigned short)rows, (unsigned short)cols, 0, 0 };
  return ioctl(fd, TIOCSWINSZ, size) < 0 ? -errno : 0;
}

/* 1 when the descriptor is in non-blocking mode, 0 when not, -errno. */
int nsbox_set_blocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -errno;
  if (flags & O_NONBLOCK) return fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ? -errno : 1;
  return 0;
}

#define TIOCGWINSZ 0x5413

/* The terminal size of fd as rows << 16 | cols; -errno when fd is not a terminal. Asked here
 * rather than through process.stdin, whose first use costs Bun several milliseconds. */
int nsbox_terminal_size(int fd) {
  unsigned short size[4] = { 0, 0, 0, 0 };
  if (ioctl(fd, TIOCGWINSZ, size) < 0) return -errno;
  return (size[0] << 16) | size[1];
}

#define TIOCGPGRP 0x540F

/* 1 when this process's group is the foreground group of terminal `fd`, 0 when it is in the
 * background, -errno when fd is not its controlling terminal. */
int nsbox_foreground(int fd) {
  int group = 0;
  if (ioctl(fd, TIOCGPGRP, &group) < 0) return -errno;
  return group == getpgid(0);
}

#define FIONREAD 0x541B

/* How many bytes wait unread in the pipe `fd`, or -errno. Lets the library empty a pipe whose
 * writers are gone without a read that could block. */
int nsbox_readable(int fd) {
  int n = 0;
  if (ioctl(fd, FIONREAD, &n) < 0) return -errno;
  return n;
}

#define POLLOUT 4
#define POLLERR 8
#define POLLHUP 16
#define POLLNVAL 32
#define PTY_WRITE_MAX 256

/* Write to the pty master `fd` only what it takes now: 0 or -EAGAIN when it has no room (the
 * payload reads nothing of its terminal), else how much of at most PTY_WRITE_MAX bytes went,
 * or -errno. A blocking write there held nsbox's event loop until the payload read: no signal
 * forwarded, no --timeout, the user's terminal raw. With room (POLLOUT: below the kernel's
 * buffer limit) a write this small never waits: a buffer of 256 bytes can always be had then. */
/* Exit without the runtime's atexit work: Bun gives each terminal of fds 0-2 the mode it saw
 * when it started, which under `make -j` was another nsbox's raw mode (src/cli.ts). */
int nsbox_exit(int status) {
  _exit(status);
  return 0; /* not reached: _exit is not declared noreturn here */
}

int nsbox_pty_write(int fd, const void *buf, int len) {
  struct pollfd p = { fd, POLLOUT, 0 };
  int r = poll(&p, 1, 0);
  if (r < 0) return -errno;
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return -EIO;
  if (r == 0 || !(p.revents & POLLOUT)) return -EAGAIN;
  ssize_t n = write(fd, buf, len > PTY_WRITE_MAX ? PTY_WRITE_MAX : len);
  return n < 0 ? -errno : (int)n;
}

/* The soft RLIMIT_NOFILE (at most INT_MAX), or -errno: for the message when descriptors run out,
 * which may have none left to read /proc/self/limits with. */
int nsbox_nofile_limit(void) {
  u64 limit[2] = { 0, 0 };
  if (getrlimit(RLIMIT_NOFILE, limit) < 0) return -errno;
  return limit[0] > 0x7fffffff ? 0x7fffffff : (int)limit[0];
}

/* The one function Bun binds. Each bound symbol costs Bun about 0.3 ms when the executor is
 * compiled, at every start of the CLI, so the parent's calls go through this switch. The
 * numbers are CALL_* in nsbox.h, CALL in src/kernel.ts. */
int nsbox_call(int fn, void *p, int a, int b, int c, int d, int e, int f) {
  switch (fn) {
  case CALL_SPAWN: { int pid = nsbox_spawn((unsigned char *)p, a, b, c, d, e, f); track_child(pid); return pid; }
  case CALL_PIPE: return nsbox_pipe((int *)p);
  case CALL_SOCKETPAIR: return nsbox_socketpair((int *)p);
  case CALL_CLOSE: return nsbox_close(a);
  case CALL_KILL: return nsbox_kill(a, b);
  case CALL_WAIT: { int r = nsbox_wait(a, (int *)p, b); if (r > 0) untrack_child(r); return r; }
  case CALL_RECV_FD: return nsbox_recv_fd(a);
  case CALL_SET_WINSIZE: return nsbox_set_winsize(a, b, c);
  case CALL_SET_BLOCKING: return nsbox_set_blocking(a);
  case CALL_TERMINAL_SIZE: return nsbox_terminal_size(a);
  case CALL_READABLE: return nsbox_readable(a);
  case CALL_LANDLOCK_ABI: return nsbox_landlock_abi();
  case CALL_UNIX_LISTEN: return nsbox_unix_listen((const char *)p);
  case CALL_UNIX_ACCEPT: return nsbox_unix_accept(a, (int *)p);
  case CALL_SEND_DATA_FD: return nsbox_send_data_fd(a, p, b, c);
  case CALL_UNIX_CONNECT: return nsbox_unix_connect((char *)p, a);
  case CALL_RECV_DATA_FD: return nsbox_recv_data_fd(a, (char *)p, b);
  case CALL_PIDFD_OPEN: return nsbox_pidfd_open(a);
  case CALL_PIDFD_SIGNAL: return nsbox_pidfd_signal(a, b);
  case CALL_PIDFD_RUNNING: return nsbox_pidfd_running(a);
  case CALL_FOREGROUND: return nsbox_foreground(a);
  case CALL_REMOVE_DIR: return nsbox_remove_dir((const char *)p);
  case CALL_NOFILE_LIMIT: return nsbox_nofile_limit();
  case CALL_TERMINAL_MODE: return nsbox_terminal_mode(a, p, b);
  case CALL_PTY_WRITE: return nsbox_pty_write(a, p, b);
  case CALL_EXIT: return nsbox_exit(a);
  case CALL_SYSCALL: return nsbox_syscall((long *)p);
  case CALL_WATCH: return nsbox_watch((int *)p);
  }
  return -EINVAL;
}
