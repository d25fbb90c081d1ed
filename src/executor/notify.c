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

/* ---- The parent's hot path: each trapped call's mechanical steps, one FFI call a group ----
 * A connect inside the sandbox pays every step below; through the generic system call each
 * crossing costs Bun 2-5 µs, a direct binding of one of these functions 0.5 µs. They do the
 * mechanism only and report what they found; every decision stays in TypeScript
 * (src/net/unotify.ts, src/net/egress.ts). */
int getsockopt(int fd, int level, int name, void *value, u32 *length);
int setsockopt(int fd, int level, int name, const void *value, u32 length);
int connect(int fd, const void *address, u32 length);
#if defined(__x86_64__)
#define NR_process_vm_readv 310
#elif defined(__aarch64__)
#define NR_process_vm_readv 270
#endif
#define NR_pidfd_open 434
#define NR_pidfd_getfd 438
#define PIDFD_THREAD 0200
#define EINVAL_ 22
#define SECCOMP_IOCTL_NOTIF_ID_VALID 0x40082102UL
#define SECCOMP_IOCTL_NOTIF_ADDFD 0x40182103UL
#define SECCOMP_ADDFD_FLAG_SETFD 1
#define F_GETFL_ 3
#define F_SETFL_ 4
#define O_RDWR_ 2
#define O_CLOEXEC_ 02000000
#define SOCK_STREAM_ 1
#define SOCK_NONBLOCK_ 04000
#define SOL_SOCKET_ 1
#define IPPROTO_IP_ 0
#define IPPROTO_TCP_ 6
#define IPPROTO_IPV6_ 41

/* struct seccomp_notif, as the watcher received it. */
struct notif { u64 id; u32 pid, flags; int nr; u32 arch; u64 ip; u64 args[6]; };

/* Steps of nsbox_take that can fail (mirrored in src/net/sys.ts TAKE). */
#define TAKE_PIDFD 1   /* pidfd_open: errno in io[7] */
#define TAKE_GONE 2    /* SECCOMP_IOCTL_NOTIF_ID_VALID: the call is gone, answer nothing */
#define TAKE_GETFD 3   /* pidfd_getfd of the call's descriptor (args[0]): errno in io[7] */
#define TAKE_NOTSOCK 4 /* SO_DOMAIN or SO_TYPE failed */
#define TAKE_FAULT 5   /* the address (args[1], io[2] bytes) could not be read whole */

/* Take trapped call `n`: a pidfd of its thread (io[1], or the one given there), checked still
 * pending, nsbox's duplicate of its descriptor args[0] (io[3]), that socket's SO_DOMAIN (io[4]),
 * SO_TYPE (io[5]) and file flags (io[6], -errno when unknown), and when io[2] > 0 the io[2]
 * bytes at args[1] copied into `address` (connect's), then checked pending again: the copy is
 * the call's own. io[0] the listener. 0, or the TAKE_ step that failed; what was opened is in
 * io[1] and io[3] either way (-1: nothing), for the caller to close. */
int nsbox_take(const struct notif *n, int *io, unsigned char *address) {
  int v;
  u32 len = 4;
  io[3] = -1, io[7] = 0;
  if (io[1] < 0) {
    io[1] = (int)syscall(NR_pidfd_open, n->pid, PIDFD_THREAD);
    if (io[1] < 0 && errno == EINVAL_) io[1] = (int)syscall(NR_pidfd_open, n->pid, 0);
    if (io[1] < 0) { io[7] = errno; return TAKE_PIDFD; }
  }
  /* The pid is the notifying thread's as long as its notification is pending. */
  if (ioctl(io[0], SECCOMP_IOCTL_NOTIF_ID_VALID, &n->id) != 0) return TAKE_GONE;
  io[3] = (int)syscall(NR_pidfd_getfd, io[1], (int)n->args[0], 0);
  if (io[3] < 0) { io[7] = errno; io[3] = -1; return TAKE_GETFD; }
  if (getsockopt(io[3], SOL_SOCKET_, 39 /* SO_DOMAIN */, &v, &len) < 0) return TAKE_NOTSOCK;
  io[4] = v, len = 4;
  if (getsockopt(io[3], SOL_SOCKET_, 3 /* SO_TYPE */, &v, &len) < 0) return TAKE_NOTSOCK;
  io[5] = v;
  io[6] = fcntl(io[3], F_GETFL_, 0);
  if (io[6] < 0) io[6] = -errno;
  if (io[2] > 0) {
    struct { void *base; size_t len; } local = { address, (size_t)io[2] }, remote = { (void *)n->args[1], (size_t)io[2] };
    long got = n->args[1] ? syscall(NR_process_vm_readv, n->pid, &local, 1, &remote, 1, 0) : -1;
    if (got != io[2]) return TAKE_FAULT;
    if (ioctl(io[0], SECCOMP_IOCTL_NOTIF_ID_VALID, &n->id) != 0) return TAKE_GONE;
  }
  return 0;
}

/* The options a program sets before connect and expects to find after, copied from the
 * payload's socket `from` to nsbox's host socket `to` when set (src/net/egress.ts says why
 * these and not the buffer sizes). */
static void copy_options(int from, int to, int family) {
  static const int ints[][3] = { /* level, name, family (0: both) */
    { IPPROTO_TCP_, 1 /* TCP_NODELAY */, 0 }, { IPPROTO_TCP_, 18 /* TCP_USER_TIMEOUT */, 0 },
    { IPPROTO_IP_, 1 /* IP_TOS */, 2 }, { IPPROTO_IPV6_, 26 /* IPV6_V6ONLY */, 10 }, { IPPROTO_IPV6_, 67 /* IPV6_TCLASS */, 10 },
  };
  static const int keepalive[] = { 4 /* TCP_KEEPIDLE */, 5 /* TCP_KEEPINTVL */, 6 /* TCP_KEEPCNT */ };
  static const int bytes[][2] = { { 13 /* SO_LINGER */, 8 }, { 20 /* SO_RCVTIMEO */, 16 }, { 21 /* SO_SNDTIMEO */, 16 } };
  int v;
  u32 len;
  for (int i = 0; i < 5; i++) {
    if (ints[i][2] && ints[i][2] != family) continue;
    len = 4, v = 0;
    if (getsockopt(from, ints[i][0], ints[i][1], &v, &len) == 0 && v) setsockopt(to, ints[i][0], ints[i][1], &v, 4);
  }
  len = 4, v = 0;
  if (getsockopt(from, SOL_SOCKET_, 9 /* SO_KEEPALIVE */, &v, &len) == 0 && v) {
    setsockopt(to, SOL_SOCKET_, 9, &v, 4);
    for (int i = 0; i < 3; i++) {
      len = 4;
      if (getsockopt(from, IPPROTO_TCP_, keepalive[i], &v, &len) == 0) setsockopt(to, IPPROTO_TCP_, keepalive[i], &v, 4);
    }
  }
  for (int i = 0; i < 3; i++) {
    unsigned char b[16] = { 0 };
    int any = 0;
    len = (u32)bytes[i][1];
    if (getsockopt(from, SOL_SOCKET_, bytes[i][0], b, &len) != 0) continue;
    for (u32 k = 0; k < len && k < 16; k++) any |= b[k];
    if (any) setsockopt(to, SOL_SOCKET_, bytes[i][0], b, len);
  }
}

/* Results of nsbox_host_connect (mirrored in src/net/sys.ts HOST). */
#define HOST_STATE 1    /* the payload's socket is not closed: its TCP state in io[3] */
#define HOST_PROTOCOL 2 /* its protocol (io[3]) is not one nsbox connects */
#define HOST_ERRNO 3    /* socket or connect failed: errno in io[3] */

/* A host socket like the payload's `io[0]` (family io[1]): checked closed (TCP_INFO's state),
 * its protocol TCP or MPTCP, made non-blocking and close-on-exec, the payload's options
 * copied, connecting to `address`. 0 with the socket in io[2] and connect's result in io[3]
 * (0, or -EINPROGRESS), or a HOST_ result. */
int nsbox_host_connect(int *io, const unsigned char *address, int length) {
  unsigned char info[8] = { 0 };
  int protocol = 0;
  u32 len = sizeof info;
  io[2] = -1;
  if (getsockopt(io[0], IPPROTO_TCP_, 11 /* TCP_INFO */, info, &len) == 0 && len > 0 && info[0] != 7 /* TCP_CLOSE */) { io[3] = info[0]; return HOST_STATE; }
  len = 4;
  if (getsockopt(io[0], SOL_SOCKET_, 38 /* SO_PROTOCOL */, &protocol, &len) < 0) protocol = -1;
  if (protocol != IPPROTO_TCP_ && protocol != 262 /* IPPROTO_MPTCP */) { io[3] = protocol; return HOST_PROTOCOL; }
  int fd = socket(io[1], SOCK_STREAM_ | SOCK_NONBLOCK_ | O_CLOEXEC_, protocol);
  if (fd < 0) { io[3] = errno; return HOST_ERRNO; }
  copy_options(io[0], fd, io[1]);
  if (connect(fd, address, (u32)length) == 0) io[3] = 0;
  else if (errno == 115 /* EINPROGRESS */) io[3] = -115;
  else { io[3] = errno; close(fd); return HOST_ERRNO; }
  io[2] = fd;
  return 0;
}

/* Install nsbox's socket io[1] in place of descriptor io[2] of the process of call `n`
 * (ADDFD SETFD on listener io[0]): blocking unless io[3] (the payload's O_NONBLOCK), with the
 * close-on-exec the replaced descriptor had (/proc/PID/fdinfo/N "flags:", octal). Its inode
 * in ids[0] (dev) and ids[1] (ino) first. The number installed, or -errno. */
int nsbox_install(const struct notif *n, int *io, u64 *ids) {
  char path[64], buf[256];
  int cloexec = 0, at = 0;
  unsigned char sx[256];
  /* /proc/PID/fdinfo/FD: procfs, written by the kernel (nothing the payload plants). */
  const char *p = "/proc/";
  for (; *p; p++) path[at++] = *p;
  for (int part = 0; part < 2; part++) {
    unsigned v = part ? (unsigned)io[2] : n->pid;
    char d[12];
    int k = 0;
    do d[k++] = (char)('0' + v % 10), v /= 10; while (v);
    while (k) path[at++] = d[--k];
    if (!part) for (p = "/fdinfo/"; *p; p++) path[at++] = *p;
  }
  path[at] = 0;
  int f = open(path, O_CLOEXEC_);
  if (f >= 0) {
    ssize_t got = read(f, buf, sizeof buf - 1);
    close(f);
    for (ssize_t i = 0; got > 0 && i + 6 < got; i++) {
      if ((i == 0 || buf[i - 1] == '\n') && buf[i] == 'f' && buf[i + 1] == 'l' && buf[i + 2] == 'a' && buf[i + 3] == 'g' && buf[i + 4] == 's' && buf[i + 5] == ':') {
        unsigned long flags = 0;
        for (i += 6; i < got && (buf[i] == ' ' || buf[i] == '\t'); i++) {}
        for (; i < got && buf[i] >= '0' && buf[i] <= '7'; i++) flags = flags * 8 + (unsigned long)(buf[i] - '0');
        cloexec = (flags & O_CLOEXEC_) != 0;
        break;
      }
    }
  }
  /* A socket's file flags are O_RDWR and the O_NONBLOCK it was made with: one F_SETFL. */
  if (!io[3]) fcntl(io[1], F_SETFL_, O_RDWR_);
  ids[0] = ids[1] = 0;
  if (syscall(SYS_statx, io[1], "", 0x1000 /* AT_EMPTY_PATH */, 0x7ff, sx) == 0) {
    u32 major = *(u32 *)(sx + 136), minor = *(u32 *)(sx + 140);
    /* glibc's makedev, as src/net/sys.ts fstatIds gives it */
    ids[0] = (((u64)major & 0xfffff000ULL) << 32) | (((u64)major & 0xfffULL) << 8) | (((u64)minor & 0xffffff00ULL) << 12) | ((u64)minor & 0xffULL);
    ids[1] = *(u64 *)(sx + 32);
  }
  struct { u64 id; u32 flags, srcfd, newfd, newfd_flags; } add = { n->id, SECCOMP_ADDFD_FLAG_SETFD, (u32)io[1], (u32)io[2], cloexec ? O_CLOEXEC_ : 0 };
  int r = ioctl(io[0], SECCOMP_IOCTL_NOTIF_ADDFD, &add);
  return r < 0 ? -errno : r;
}

int nsbox_connect_thread(int *io, const unsigned char *address, int length);

/* One system call for the parent, bound directly (nsbox_functions): the result (truncated to
 * an int: descriptors, byte counts), or -errno. */
int nsbox_sys(long nr, long a, long b, long c, long d, long e, long f) {
  long r = syscall(nr, a, b, c, d, e, f);
  return r < 0 ? -errno : (int)r;
}

/* The parent's generic system call: args[0] the number, args[1..6] its arguments. The result
 * (truncated to an int: descriptors, byte counts), or -errno. args[0] -1 (no system call has
 * a negative number): the addresses of the functions above, in args[1..4], for the parent to
 * bind directly (src/net/sys.ts; args[5]: nsbox_connect_thread, below): one symbol bound at every start, these only where a sandbox
 * has a listener. */
int nsbox_syscall(long *args) {
  if (args[0] == -1) {
    args[1] = (long)nsbox_sys, args[2] = (long)nsbox_take, args[3] = (long)nsbox_host_connect, args[4] = (long)nsbox_install, args[5] = (long)nsbox_connect_thread;
    return 0;
  }
  long r = syscall(args[0], args[1], args[2], args[3], args[4], args[5], args[6]);
  return r < 0 ? -errno : (int)r;
}

int pthread_create(unsigned long *thread, const void *attr, void *(*start)(void *), void *arg);
int pthread_detach(unsigned long thread);
void *malloc(size_t size);
void free(void *p);

#define WATCH_MAX 4096
/* A record to the parent (96 bytes, below PIPE_BUF: each write is whole). kind 0: nothing (the
 * first, at once: the parent's reading warms up before a call waits on it); 1: a
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
  for (int i = 0; i < 10; i++) r.notif[i] = 0;
  r.kind = 0, r.fd = -1, r.revents = 0, r.pad = 0;
  put(w, &r);
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
          /* forgotten: said with revents 0 (records of `fd` before this one are the old waits') */
          r.kind = 2, r.fd = req[k].fd, r.revents = 0, r.pad = 0;
          put(w, &r);
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

/* ---- connect(2) of a socket the payload shares, on a thread of its own ----
 * nsbox's duplicate of the payload's socket is the payload's own open file: its O_NONBLOCK is
 * the payload's to change at any moment, so a connect made on it from nsbox's main thread could
 * block there (a full backlog), and nothing would be served again. Each such connect runs on a
 * detached thread with the socket's own flags (nothing flipped): it blocks where the payload's
 * own connect would, and its result comes back as a record (kind 5, `fd` the caller's token,
 * `revents` 0 or -errno) on the watcher's record pipe. The parent bounds how many run at once. */
struct connector { int fd, out, token, length, hold; unsigned char address[128]; };

static void *connect_one(void *arg) {
  struct connector *k = (struct connector *)arg;
  struct watch_record r;
  for (int i = 0; i < 10; i++) r.notif[i] = 0;
  r.kind = 5, r.fd = k->token, r.pad = 0;
  r.revents = connect(k->fd, k->address, (u32)k->length) < 0 ? -errno : 0;
  char *p = (char *)&r;
  size_t left = sizeof r;
  while (left > 0) {
    ssize_t n = write(k->out, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n, left -= n;
  }
  close(k->fd);
  close(k->out);
  if (k->hold >= 0) close(k->hold);
  free(k);
  return 0;
}

/* Start connect(io[0], address) on a thread: io[1] the record pipe's write end, io[2] the
 * token. Both descriptors are duplicated for the thread (the caller keeps its own). io[3]: a
 * descriptor the address names (/proc/self/fd/N), or -1: the thread takes it over and closes it
 * only when its connect has returned, so that the number cannot name another file while the
 * kernel may still look the path up (a unix connect waiting for a full backlog looks it up again
 * after each wait, also after the caller was answered EINTR). Closed here on every failure.
 * 0 or -errno. */
int nsbox_connect_thread(int *io, const unsigned char *address, int length) {
  struct connector *k;
  unsigned long thread;
  int r;
  if (length < 0 || length > 128) { if (io[3] >= 0) close(io[3]); return -EINVAL_; }
  k = (struct connector *)malloc(sizeof *k);
  if (!k) { if (io[3] >= 0) close(io[3]); return -12; }
  k->hold = io[3];
  k->fd = fcntl(io[0], F_DUPFD_CLOEXEC, 0);
  k->out = k->fd < 0 ? -1 : fcntl(io[1], F_DUPFD_CLOEXEC, 0);
  if (k->out < 0) {
    r = -errno;
    if (k->fd >= 0) close(k->fd);
    if (k->hold >= 0) close(k->hold);
    free(k);
    return r;
  }
  k->token = io[2], k->length = length;
  for (int i = 0; i < length; i++) k->address[i] = address[i];
  r = pthread_create(&thread, 0, connect_one, k);
  if (r != 0) { close(k->fd); close(k->out); if (k->hold >= 0) close(k->hold); free(k); return -r; }
  pthread_detach(thread);
  return 0;
}
