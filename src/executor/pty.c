/* The payload's own pseudo-terminal, made in the sandbox's devpts instance. Its master goes
 * to the parent over a Unix socket; the slave becomes the controlling terminal of a session
 * the sandbox's init leads, whose foreground job is the payload. A payload on its own terminal
 * in a session of the sandbox's cannot push keystrokes into the user's shell with TIOCSTI (the
 * CVE-2017-5226 class).
 *
 * Init, not the payload, leads that session, as sudo's monitor does: the kernel discards the
 * stop signals (SIGTSTP, SIGTTIN, SIGTTOU) of an orphaned process group, one with no parent in
 * another group of the same session, and a session leader's group is always orphaned. With
 * the payload in a group of its own under init, Ctrl-Z stops it, init sees the stop, and nsbox
 * stops its own job in the user's shell (init.c, src/terminal.ts). */
#include "nsbox.h"

#define TIOCSPTLCK 0x40045431
#define TIOCGPTPEER 0x5441
#define TIOCSCTTY 0x540E

static int leader; /* this process (init) leads the pty's session */

/* 1 in the process that made the pty: it leads the pty's session (init keeps the slave open, at PTY_SLAVE_FD). */
int pty_leader(void) { return leader; }

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
  slave = -1;
  /* A session of its own (leaving the user's, and its terminal), with the pty to control. */
  if (setsid() < 0 || ioctl(PTY_SLAVE_FD, TIOCSCTTY, 0) < 0) return -1;
  leader = 1;
  return 0;
fail:
  e = errno;
  if (slave >= 0) close(slave);
  if (master >= 0) close(master);
  errno = e;
  return -1;
}

/* In the payload, in init's session: the pty slave takes the place of each of stdin, stdout,
 * stderr named in `fds` (bit 0, 1, 2): those that were the user's terminal, which the payload
 * never gets itself (it could read the user's typing from any of them). The others (a file, a
 * pipe) pass straight through, in blocking mode. The payload becomes a job of that session:
 * a process group of its own, the pty's foreground one. */
int use_pty(int fds) {
  u64 ttou = 1ULL << (SIGTTOU - 1), mask = 0;
  int group, r;
  for (int fd = 0; fd < 3; fd++) {
    if (fds & (1 << fd)) {
      if (dup3(PTY_SLAVE_FD, fd, 0) < 0) return -1;
    } else {
      int flags = fcntl(fd, F_GETFL);
      if (flags >= 0 && (flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    }
  }
  if (setpgid(0, 0) < 0 || (group = getpgid(0)) < 0) return -1;
  /* A group not yet in the foreground that sets the foreground is sent SIGTTOU: blocked meanwhile. */
  syscall(SYS_rt_sigprocmask, SIG_BLOCK, &ttou, &mask, 8);
  r = ioctl(PTY_SLAVE_FD, TIOCSPGRP, &group);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, 0, 8);
  if (r < 0) return -1;
  return close(PTY_SLAVE_FD);
}
