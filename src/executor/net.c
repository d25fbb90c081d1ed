/* Networking inside the sandbox's own network namespace: bring up loopback, nothing else. */
#include "nsbox.h"

#define AF_INET 2
#define SOCK_DGRAM 2
#define SIOCGIFFLAGS 0x8913
#define SIOCSIFFLAGS 0x8914
#define IFF_UP 1

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
