/* Networking inside the sandbox's own network namespace: loopback, and the proxy's socket. */
#include "nsbox.h"

#define SIOCGIFFLAGS 0x8913
#define SIOCSIFFLAGS 0x8914
#define IFF_UP 1
int bind(int fd, const void *addr, unsigned length);
int listen(int fd, int backlog);

struct ifreq { char name[16]; short flags; char pad[22]; };

int loopback_up(void) {
  struct ifreq req = { { 'l', 'o', 0 }, 0, { 0 } };
  int fd = socket(AF_INET, SOCK_DGRAM | O_CLOEXEC, 0), r = -1, e;
  if (fd < 0) return -1;
  if (ioctl(fd, SIOCGIFFLAGS, &req) == 0) {
    req.flags |= IFF_UP;
    r = ioctl(fd, SIOCSIFFLAGS, &req);
  }
  e = errno;
  close(fd);
  errno = e;
  return r;
}

/* A TCP socket listening on 127.0.0.1:port of the sandbox's network namespace, handed to the
 * parent: the parent accepts the sandbox's connections on it and makes its own, from the
 * host's network, to the hosts the plan allows. No helper process, nothing routed. With `udp`,
 * a UDP socket bound there (the resolver's, 127.0.0.53:53: PID 1 still has its capabilities). */
int listen_tcp(int port, u32 address, int udp) {
  if (!address) address = 0x7f000001;
  unsigned char addr[16] = { AF_INET, 0, (unsigned char)(port >> 8), (unsigned char)port,
                             (unsigned char)(address >> 24), (unsigned char)(address >> 16), (unsigned char)(address >> 8), (unsigned char)address };
  int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | O_CLOEXEC, 0), e;
  if (fd < 0) return -1;
  if (bind(fd, addr, sizeof addr) < 0 || (!udp && listen(fd, 128) < 0) || send_fd(CONTROL_FD, fd) < 0) {
    e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return close(fd);
}

/* A NETLINK_SOCK_DIAG socket of the sandbox's network namespace, handed to the parent: its
 * unix_diag dump lists the Unix sockets made inside (with the device and inode each is bound
 * to), so nsbox tells a socket made inside from a host's without connecting to either
 * (src/net/unix-diag.ts). Made by PID 1 before any filter of the payload's. */
int sock_diag(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | O_CLOEXEC, NETLINK_SOCK_DIAG), e;
  if (fd < 0) return -1;
  if (send_fd(CONTROL_FD, fd) < 0) {
    e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return close(fd);
}
