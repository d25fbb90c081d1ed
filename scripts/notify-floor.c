// The floor of a connect through seccomp user notification with ADDFD, in C: a child connects N
// times (blocking) to a loopback server under a filter that traps connect; the supervisor (a
// thread of the parent, blocking in RECV) takes the socket, reads the address, checks ID_VALID,
// makes its own socket, connects it, waits for it, installs it (ADDFD SETFD), answers 0.
// Versus the same loop with no filter, and the notification answered ECONNREFUSED at once (the
// round trip alone). Median per connect, as the child times it, and the supervisor's own steps.
// No policy, no copies checked, no JavaScript: what nsbox's transparent mode can't go below on
// this machine (a sketch for measuring, not a sandbox: it trusts the child entirely).
// Build and run (as any user): gcc -O2 -o /tmp/notify-floor scripts/notify-floor.c -lpthread && /tmp/notify-floor 2000
#define _GNU_SOURCE
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <linux/audit.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <sys/wait.h>
static int N = 2000, port;
static volatile int refuse_mode;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
static void loop(const char *what, int ok) {
  double *ts = malloc(sizeof(double) * N);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001) };
  for (int i = 0; i < N; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    double t = now();
    int r = connect(s, (void *)&a, sizeof a);
    if ((r == 0) != ok) { perror("connect"); exit(1); }
    ts[i] = now() - t;
    close(s);
  }
  double first = ts[0];
  qsort(ts, N, sizeof(double), cmp);
  printf("%-40s median %.1f µs (first %.1f µs)\n", what, ts[N / 2], first);
  fflush(stdout);
}
static int listener;
static double step[4][4096]; static int steps;
static void *supervise(void *arg) {
  struct seccomp_notif *n = calloc(1, 256);
  struct seccomp_notif_resp r;
  for (;;) {
    memset(n, 0, sizeof *n);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, n) != 0) return 0;
    if (refuse_mode) { memset(&r, 0, sizeof r); r.id = n->id; r.error = -ECONNREFUSED; ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r); continue; }
    double t0 = now();
    int pidfd = syscall(SYS_pidfd_open, n->pid, 0);
    int dup = syscall(SYS_pidfd_getfd, pidfd, (int)n->data.args[0], 0);
    int dom, len = 4; getsockopt(dup, SOL_SOCKET, SO_DOMAIN, &dom, (socklen_t *)&len);
    struct sockaddr_in a; struct iovec l = { &a, sizeof a }, rm = { (void *)n->data.args[1], sizeof a };
    process_vm_readv(n->pid, &l, 1, &rm, 1, 0);
    ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &n->id);
    double t1 = now();
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int v; len = 4; getsockopt(dup, IPPROTO_TCP, TCP_NODELAY, &v, (socklen_t *)&len);
    if (connect(s, (void *)&a, sizeof a) != 0 && errno == EINPROGRESS) { struct pollfd p = { s, POLLOUT }; poll(&p, 1, -1); }
    double t2 = now();
    fcntl(s, F_SETFL, O_RDWR);
    struct seccomp_notif_addfd add = { .id = n->id, .flags = SECCOMP_ADDFD_FLAG_SETFD, .srcfd = s, .newfd = (int)n->data.args[0], .newfd_flags = 0 };
    ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
    double t3 = now();
    close(s); close(dup); close(pidfd);
    memset(&r, 0, sizeof r); r.id = n->id; r.val = 0;
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r);
    if (steps < 4096) { step[0][steps] = t1 - t0; step[1][steps] = t2 - t1; step[2][steps] = t3 - t2; step[3][steps] = now() - t3; steps++; }
  }
}
int main(int argc, char **argv) {
  if (argc > 1) N = atoi(argv[1]);
  int srv = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
  bind(srv, (void *)&a, sizeof a); listen(srv, 4096);
  socklen_t al = sizeof a; getsockname(srv, (void *)&a, &al); port = ntohs(a.sin_port);
  pid_t server = fork();
  if (server == 0) { for (;;) { int c = accept(srv, 0, 0); if (c < 0) exit(0); close(c); } }
  loop("direct (no filter)", 1);
  loop("direct (no filter), again", 1);
  int sv[2]; socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  pid_t child = fork();
  if (child == 0) {
    struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_connect, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { 4, f };
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    int fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    struct msghdr m = {0}; char buf[CMSG_SPACE(sizeof(int))]; struct iovec io = { "x", 1 };
    m.msg_iov = &io; m.msg_iovlen = 1; m.msg_control = buf; m.msg_controllen = sizeof buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m); c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd); sendmsg(sv[1], &m, 0); close(fd);
    char x; read(sv[1], &x, 1);
    loop("notify, answered ECONNREFUSED at once", 0);
    write(sv[1], "n", 1); read(sv[1], &x, 1);
    loop("notify + C supervisor (ADDFD, SEND)", 1);
    exit(0);
  }
  struct msghdr m = {0}; char buf[CMSG_SPACE(sizeof(int))]; char x; struct iovec io = { &x, 1 };
  m.msg_iov = &io; m.msg_iovlen = 1; m.msg_control = buf; m.msg_controllen = sizeof buf;
  recvmsg(sv[0], &m, 0); memcpy(&listener, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
  refuse_mode = 1;
  pthread_t t; pthread_create(&t, 0, supervise, 0);
  write(sv[0], "g", 1);
  read(sv[0], &x, 1); refuse_mode = 0; write(sv[0], "g", 1);
  int st; waitpid(child, &st, 0);
  kill(server, SIGKILL);
  const char *names[] = { "take (pidfd, getfd, getsockopt, readv, ID_VALID)", "host socket + connect + poll", "F_SETFL + ADDFD", "closes + SEND" };
  for (int k = 0; k < 4; k++) { qsort(step[k], steps, sizeof(double), cmp); printf("  supervisor: %-50s median %.1f µs\n", names[k], step[k][steps / 2]); }
  return 0;
}
