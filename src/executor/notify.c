/* Seccomp user notification: PID 1 installs the notify filter and hands its listener to the
 * parent (OP_SECCOMP_NOTIFY), and in the parent a watcher thread waits on that listener and on
 * the descriptors the parent asks it to watch, and passes what happens on as fixed-size
 * records on a pipe the parent streams (src/net/unotify.ts). Decisions are all the parent's. */
#include "nsbox.h"

#define EPIPE_ 32
#define EBUSY_ 16
#define SECCOMP_SET_MODE_FILTER 1
#define SECCOMP_FILTER_FLAG_NEW_LISTENER 8
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV 32
#define SECCOMP_IOCTL_NOTIF_RECV 0xc0502100UL
#define POLLIN_ 1
#define POLLHUP_ 16
#define POLLERR_ 8
#define POLLNVAL_ 32

/* In PID 1, before SPAWN: the filter the payload inherits, its listener reported (value = its
 * number here), then one byte from the parent on CONTROL_FD: 0 once it holds its own copy
 * (pidfd_getfd), else an errno, which fails this step. End-of-file: EPIPE. */
int seccomp_notify(const void *program, int bytes, int index) {
  struct { unsigned short length; const void *filter; } prog = { (unsigned short)(bytes / 8), program };
  unsigned char byte = 0;
  ssize_t n;
  /* Once nsbox has received a call, only SIGKILL interrupts the wait for its answer (5.19): a
   * signal would otherwise make the kernel restart a send nsbox already made. Older: without. */
  int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
  if (fd < 0 && errno == EINVAL) fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  /* A filter with a listener is in place already (nsbox in nsbox, a container's supervisor):
   * the kernel allows one a process. The sandbox goes on without: value -EBUSY, no ack. */
  if (fd < 0 && errno == EBUSY_) { report(REPORT_NOTIFY, index, -EBUSY_); return 0; }
  if (fd < 0) return -1;
  /* nsbox takes the listener with pidfd_getfd, which needs this process dumpable. nsbox exec's
   * init is not (join.c, from its first setns): dumpable for this wait only. No process of the
   * sandbox can name it meanwhile (it stays in the host's PID namespace); at the sandbox's
   * start, PID 1 is dumpable until its SPAWN anyway. */
  int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  if (dumpable == 0 && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0) { int e = errno; close(fd); errno = e; return -1; }
  report(REPORT_NOTIFY, index, fd);
  do n = read(CONTROL_FD, &byte, 1); while (n < 0 && errno == EINTR);
  if (dumpable == 0) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  close(fd);
  if (n == 1 && byte == 0) return 0;
  errno = n == 1 ? byte : n == 0 ? EPIPE_ : errno;
  return -1;
}

/* The parent's generic system call: args[0] the number, args[1..6] its arguments. The result
 * (truncated to an int: descriptors, byte counts), or -errno. */
int nsbox_syscall(long *args) {
  long r = syscall(args[0], args[1], args[2], args[3], args[4], args[5], args[6]);
  return r < 0 ? -errno : (int)r;
}

int pthread_create(unsigned long *thread, const void *attr, void *(*start)(void *), void *arg);
int pthread_detach(unsigned long thread);
void *malloc(size_t size);
void free(void *p);

#define WATCH_MAX 4096
/* A record to the parent (96 bytes, below PIPE_BUF: each write is whole). kind 1: a
 * notification (struct seccomp_notif in `notif`); 2: `fd` is ready (`revents`); 3: the
 * listener hung up (no filtered process is left); 4: the listener failed (errno in revents). */
struct watch_record { int kind, fd, revents, pad; u64 notif[10]; };
/* A request from the parent on the control pipe: watch `fd` for `events` once; events 0:
 * forget every watch of `fd`. */
struct watch_request { int fd, events; };
struct watcher { int listener, out, ctl, n; struct pollfd fds[2 + WATCH_MAX]; };

static void put(struct watcher *w, struct watch_record *r) {
  char *p = (char *)r;
  size_t left = sizeof *r;
  while (left > 0) {
    ssize_t n = write(w->out, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n, left -= n;
  }
}

static void *watch_loop(void *arg) {
  struct watcher *w = (struct watcher *)arg;
  struct watch_record r;
  struct watch_request req[32];
  for (;;) {
    w->fds[0].fd = w->ctl, w->fds[0].events = POLLIN_, w->fds[0].revents = 0;
    w->fds[1].fd = w->listener, w->fds[1].events = POLLIN_, w->fds[1].revents = 0;
    for (int i = 0; i < w->n; i++) w->fds[2 + i].revents = 0;
    if (poll(w->fds, 2 + w->n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < w->n; i++) {
      if (!w->fds[2 + i].revents) continue;
      r.kind = 2, r.fd = w->fds[2 + i].fd, r.revents = w->fds[2 + i].revents, r.pad = 0;
      put(w, &r);
      w->fds[2 + i] = w->fds[2 + w->n - 1];
      w->n--, i--;
    }
    if (w->fds[1].revents & POLLIN_) {
      for (int i = 0; i < 10; i++) r.notif[i] = 0;
      if (ioctl(w->listener, SECCOMP_IOCTL_NOTIF_RECV, r.notif) == 0) {
        r.kind = 1, r.fd = -1, r.revents = 0, r.pad = 0;
        put(w, &r);
      }
    } else if (w->fds[1].revents & (POLLHUP_ | POLLERR_ | POLLNVAL_)) {
      r.kind = w->fds[1].revents & POLLHUP_ ? 3 : 4, r.fd = -1, r.revents = w->fds[1].revents, r.pad = 0;
      put(w, &r);
      break;
    }
    if (w->fds[0].revents) {
      ssize_t n;
      do n = read(w->ctl, req, sizeof req); while (n < 0 && errno == EINTR);
      if (n <= 0) break; /* the parent closed it: stop */
      for (int k = 0; k < (int)(n / sizeof req[0]); k++) {
        if (req[k].events == 0) {
          for (int i = 0; i < w->n; i++) if (w->fds[2 + i].fd == req[k].fd) w->fds[2 + i] = w->fds[2 + --w->n], i--;
        } else if (w->n < WATCH_MAX) {
          w->fds[2 + w->n].fd = req[k].fd, w->fds[2 + w->n].events = (short)req[k].events, w->n++;
        } else { /* too many at once: POLLNVAL, and the parent gives up on that wait */
          r.kind = 2, r.fd = req[k].fd, r.revents = POLLNVAL_, r.pad = 0;
          put(w, &r);
        }
      }
    }
  }
  close(w->out);
  close(w->ctl);
  free(w);
  return 0;
}

/* Start a watcher thread: fds[0] the listener (kept open by the parent until the pipe ends),
 * fds[1] the record pipe's write end and fds[2] the control pipe's read end (both the
 * thread's from now on: it closes them as it ends). 0 or -errno. */
int nsbox_watch(int *fds) {
  struct watcher *w = (struct watcher *)malloc(sizeof *w);
  unsigned long thread;
  int r;
  if (!w) return -12;
  w->listener = fds[0], w->out = fds[1], w->ctl = fds[2], w->n = 0;
  r = pthread_create(&thread, 0, watch_loop, w);
  if (r != 0) { free(w); return -r; }
  pthread_detach(thread);
  return 0;
}
