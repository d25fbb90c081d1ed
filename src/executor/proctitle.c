/* What `ps` inside shows for the sandbox's init (and nsbox exec's): "nsbox-init", not the Bun
 * command line it was cloned from, and not Bun's gigabytes of reserved address space.
 *
 * proctitle_prepare runs first thing in the clone, before any op: the payload does not exist
 * yet and /proc is still the host's, so what it reads there is the kernel's word (later, a
 * payload that kept CAP_SYS_ADMIN could mount its own /proc over the sandbox's). It writes the
 * name over the argument strings at the top of the stack (where /proc/PID/cmdline reads them),
 * sets the name `ps -o comm` shows, and notes which large mappings the init will never touch.
 * proctitle_unmap, called by the init once the payload has exec'd (until then the payload
 * shares this memory and reads the plan from it), unmaps them: VSZ drops from Bun's ~5.5 GB to
 * the ~150 MB of Bun's binary and libraries, which stay mapped.
 *
 * What may go: anonymous, not executable mappings of 32 MiB or more (Bun's heap arenas and
 * reservations, glibc's per-thread malloc arenas) that hold none of what the init uses after
 * the payload's exec: its stack, its thread's TLS (errno), and the executor's own code and data
 * (TinyCC's one block). It calls nothing that allocates: waitpid, kill, write, sigaction. */
#include "nsbox.h"

#define PR_SET_NAME 15
#define INIT_NAME "nsbox-init"
#define UNMAP_AT_LEAST (32ULL << 20)
#define MAX_UNMAPS 64
/* Not copied into the clone: the same kind of mapping from 4 MiB (Bun's smaller heap regions and
 * its threads' stacks), where about a third of the copy-on-write faults were. */
#define DONTFORK_AT_LEAST (4ULL << 20)

static struct { u64 start, end; } unmaps[MAX_UNMAPS];
static int unmap_count;

/* The number at *s in `base` (10 or 16), moving *s past it. */
static u64 number(const char **s, int base) {
  u64 v = 0;
  for (;; (*s)++) {
    char c = **s;
    int d = c >= '0' && c <= '9' ? c - '0' : base == 16 && c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return v;
    v = v * base + d;
  }
}

/* Read all of `path` into buf (NUL-terminated, at most size-1 bytes); its length or -1. */
static int read_small(const char *path, char *buf, int size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC), n = 0;
  if (fd < 0) return -1;
  while (n < size - 1) {
    ssize_t r = read(fd, buf + n, size - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += r;
  }
  close(fd);
  buf[n] = 0;
  return n;
}

/* Write INIT_NAME over the argument strings, between arg_start and arg_end (with env_start and
 * env_end, fields 48-51 of /proc/self/stat, counted after the comm, which may hold spaces). */
static void set_cmdline(void) {
  char stat[1024];
  const char *s = 0, *p;
  u64 field[4];
  int n = read_small("/proc/self/stat", stat, sizeof stat), i;
  if (n <= 0) return;
  for (p = stat; *p; p++) if (*p == ')') s = p;
  if (!s) return;
  s += 2; /* ") " then field 3 */
  for (i = 3; i < 48 && *s; s++) if (*s == ' ') i++;
  for (i = 0; i < 4; i++) {
    if (*s < '0' || *s > '9') return;
    field[i] = number(&s, 10);
    if (*s == ' ') s++;
  }
  u64 start = field[0], end = field[1];
  /* Past arg_end only into the environment's strings, which the kernel shows then (setproctitle). */
  u64 limit = field[2] == end && field[3] > end ? field[3] : end;
  if (start == 0 || end <= start || limit - start < 2) return;
  char *title = (char *)start;
  u64 len = sizeof INIT_NAME - 1, at;
  if (len > limit - start - 1) len = limit - start - 1;
  for (at = 0; at < len; at++) title[at] = INIT_NAME[at];
  for (; at < end - start || at == len; at++) title[at] = 0;
  /* A last byte that is not NUL tells the kernel the strings were rewritten: it then shows them
   * up to the first NUL, "nsbox-init" alone rather than followed by the old length in NULs. */
  if (end - start > len + 1) title[end - start - 1] = ' ';
}

/* One line of /proc/self/maps: "start-end perms offset dev inode [path]". */
static void consider(const char *line, const u64 *keep, int keeps, u64 at_least) {
  const char *s = line;
  u64 start = number(&s, 16), end, inode;
  int i;
  if (*s++ != '-') return;
  end = number(&s, 16);
  if (*s++ != ' ' || !s[0] || !s[1] || !s[2] || s[2] == 'x') return;
  for (i = 0; i < 3 && *s; s++) if (*s == ' ') i++;  /* past perms, offset, dev */
  inode = number(&s, 10);
  while (*s == ' ') s++;
  if (inode != 0 || *s || end - start < at_least || unmap_count == MAX_UNMAPS) return;
  for (i = 0; i < keeps; i++) if (keep[i] >= start && keep[i] < end) return;
  unmaps[unmap_count].start = start;
  unmaps[unmap_count++].end = end;
}

static void find_unmaps(const u64 *keep, int keeps, u64 at_least) {
  char buf[4096];
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), have = 0, skipping = 0, i, from;
  if (fd < 0) return;
  for (;;) {
    ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    have += r;
    for (i = from = 0; i < have; i++) {
      if (buf[i] != '\n') continue;
      buf[i] = 0;
      if (!skipping) consider(buf + from, keep, keeps, at_least);
      skipping = 0, from = i + 1;
    }
    /* A line longer than the buffer names a file: not one to unmap. */
    if (from == 0 && have == (int)sizeof buf - 1) skipping = 1, from = have;
    for (i = from; i < have; i++) buf[i - from] = buf[i];
    have -= from;
  }
  close(fd);
}

void proctitle_prepare(void) {
  u64 keep[4];
  unmap_count = 0;  /* nsbox's list, copied with the clone (proctitle_fork_advice) */
  keep[0] = (u64)&keep;                  /* this stack */
  keep[1] = (u64)__errno_location();     /* this thread's TLS */
  keep[2] = (u64)&proctitle_prepare;     /* the executor's code */
  keep[3] = (u64)&unmap_count;           /* and its data */
  set_cmdline();
  prctl(PR_SET_NAME, (unsigned long)INIT_NAME, 0, 0, 0);
  find_unmaps(keep, 4, UNMAP_AT_LEAST);
}

void proctitle_unmap(void) {
  for (int i = 0; i < unmap_count; i++) munmap((void *)unmaps[i].start, unmaps[i].end - unmaps[i].start);
  unmap_count = 0;
}

/* Bun's large mappings (its heaps, its threads' stacks, its reservations) are not copied into the
 * clone at all: the clone runs only C of the executor and libc, on this thread's stack, on a copy
 * of the plan (spawn.c), with every signal blocked until Bun's handlers are gone; it allocates
 * nothing. Copying them cost nsbox the page-table copy at the clone, then a copy-on-write fault on
 * every page Bun wrote for as long as PID 1 lived: about 1,650 faults a run in a library process,
 * 150 without them. nsbox calls this with MADV_DONTFORK before the clone, MADV_DOFORK after it; a
 * mapping that changed between the two calls is left to the kernel (madvise of a range no longer
 * mapped fails; a new mapping is copied as any). The executor's own data and bss are kept with
 * the caller's addresses. Bun marks only its JIT region MADV_DONTFORK itself (VmFlags "dc" in
 * /proc/self/smaps): executable, never chosen here, so MADV_DOFORK gives back what was. */
void proctitle_fork_advice(const u64 *keep, int keeps, int advice) {
  if (advice == MADV_DONTFORK) {
    u64 all[8];
    int n = 0;
    for (; n < keeps && n < 7; n++) all[n] = keep[n];
    all[n++] = (u64)&unmap_count;  /* the executor's bss (spawn.c gives its data) */
    unmap_count = 0;
    find_unmaps(all, n, DONTFORK_AT_LEAST);
  }
  for (int i = 0; i < unmap_count; i++) madvise((void *)unmaps[i].start, unmaps[i].end - unmaps[i].start, advice);
  if (advice == MADV_DOFORK) unmap_count = 0;
}
