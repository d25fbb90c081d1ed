/* Sandboxes end with the thread that started them, and are reaped, never left as zombies.
 *
 * The kernel sends the parent-death signal (PR_SET_PDEATHSIG, op DEATH_SIGNAL) when the
 * *thread* that cloned PID 1 exits, not the process. A Bun Worker is a thread: when it ends,
 * its sandboxes were killed and, with no JavaScript left to wait for them, stayed zombies
 * until the process exited. So the rule is: a sandbox lives as long as the JavaScript thread
 * (main or Worker) that started it. Each thread's unreaped sandboxes are kept here, and a
 * thread-specific destructor, which runs as that thread exits, kills each PID 1 (ending its
 * PID namespace) and reaps it.
 *
 * Each JavaScript thread compiles its own copy of the executor (cc() per module instance), so
 * the list below belongs to one thread and needs no lock. */
#include "nsbox.h"

int pthread_key_create(unsigned *key, void (*destructor)(void *));
int pthread_key_delete(unsigned key);
int pthread_setspecific(unsigned key, const void *value);
void *realloc(void *p, size_t size);
void free(void *p);

struct children { int count, size; int pid[]; };

static struct children *children;
static unsigned children_key;
static int children_keyed; /* 0 not yet, 1 made, -1 refused (then nothing is kept) */

static void end_children(void *p) {
  struct children *c = p;
  int i, status;
  for (i = 0; i < c->count; i++) {
    kill(c->pid[i], SIGKILL);
    while (waitpid(c->pid[i], &status, 0) < 0 && errno == EINTR) {}
  }
  free(c);
  children = 0;
  /* A key per Worker would run out (PTHREAD_KEYS_MAX); this copy is done with its thread. */
  pthread_key_delete(children_key);
  children_keyed = 0;
}

/* Remember `pid`, cloned by this thread and not yet reaped. */
static void track_child(int pid) {
  struct children *c;
  if (pid <= 0) return;
  if (children_keyed == 0) children_keyed = pthread_key_create(&children_key, end_children) == 0 ? 1 : -1;
  if (children_keyed < 0) return;
  if (!children || children->count == children->size) {
    int size = children ? children->size * 2 : 16;
    c = realloc(children, sizeof *c + (size_t)size * sizeof(int));
    if (!c) return;
    if (!children) c->count = 0;
    c->size = size;
    children = c;
    pthread_setspecific(children_key, c);
  }
  children->pid[children->count++] = pid;
}

/* `pid` has been reaped: forget it (its number may now go to another process). */
static void untrack_child(int pid) {
  int i;
  if (!children || pid <= 0) return;
  for (i = 0; i < children->count; i++) {
    if (children->pid[i] != pid) continue;
    children->pid[i] = children->pid[--children->count];
    return;
  }
}
