/* The payload's own pseudo-terminal, made in the sandbox's devpts instance. Its master goes
 * to the parent over a Unix socket; the slave becomes the payload's controlling terminal.
 * A payload on its own terminal in its own session cannot push keystrokes into the user's
 * shell with TIOCSTI (the CVE-2017-5226 class). */
#include "nsbox.h"

#define TIOCSPTLCK 0x40045431
#define TIOCGPTPEER 0x5441
#define TIOCSCTTY 0x540E

/* Pass a descriptor to the parent over the control socket (one byte of data, one fd). */
int send_fd(int sock, int fd) {
  char byte = 0;
  u64 control[3] = { 20, 0, 0 };  /* cmsg_len = CMSG_LEN(sizeof(int)) */
  int *head = (int *)control;
  head[2] = 1, head[3] = 1, head[4] = fd;  /* SOL_SOCKET, SCM_RIGHTS, the descriptor */
  struct iovec iov = { &byte, 1 };
  struct msghdr msg = { 0, 0, &iov, 1, control, 24, 0 };
  return sendmsg(sock, &msg, 0) < 0 ? -1 : 0;
}

int open_pty(const char *ptmx, int rows, int cols) {
  int unlock = 0, master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC), slave = -1, e;
  unsigned short size[4] = { (unsigned short)rows, (unsigned short)cols, 0, 0 };
  if (master < 0) return -1;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) goto fail;
  if (rows > 0 && cols > 0 && ioctl(master, TIOCSWINSZ, size) < 0) goto fail;
  if ((slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY)) < 0) goto fail;
  if (send_fd(CONTROL_FD, master) < 0) goto fail;
  close(master);  /* first: it may hold the number the slave moves to */
  master = -1;
  if (slave != PTY_SLAVE_FD) {
    if (dup3(slave, PTY_SLAVE_FD, O_CLOEXEC) < 0) goto fail;
    close(slave);
  }
  return 0;
fail:
  e = errno;
  if (slave >= 0) close(slave);
  if (master >= 0) close(master);
  errno = e;
  return -1;
}

/* In the payload, after setsid(): the pty slave becomes the controlling terminal and takes
 * the place of each of stdin, stdout, stderr named in `fds` (bit 0, 1, 2): those that were the
 * user's terminal, which the payload never gets itself (it could read the user's typing from
 * any of them). The others (a file, a pipe) pass straight through, in blocking mode. */
int use_pty(int fds) {
  for (int fd = 0; fd < 3; fd++) {
    if (fds & (1 << fd)) {
      if (dup3(PTY_SLAVE_FD, fd, 0) < 0) return -1;
    } else {
      int flags = fcntl(fd, F_GETFL);
      if (flags >= 0 && (flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    }
  }
  if (ioctl(PTY_SLAVE_FD, TIOCSCTTY, 0) < 0) return -1;
  return close(PTY_SLAVE_FD);
}
