/* pairs: N malloc+free pairs, for counting instructions under callgrind.
 *
 *   pairs MODE SIZE N
 *
 * MODE local: N times on one thread: malloc(SIZE), write one byte, free
 *             the block allocated KEEP pairs earlier.  A ring of KEEP live
 *             blocks keeps every allocator's page from going empty on each
 *             free (the pathology of a lone malloc/free pair, which real
 *             programs do not have); a LIFO free list still hands the
 *             freed block to the next malloc.
 * MODE cross: the main thread mallocs batches of BATCH blocks, a second
 *             thread frees them (every free is a cross-thread free).
 * MODE null-local / null-cross: the same loops calling do-nothing
 *             functions, to subtract the driver's own instructions.
 *
 * Build: gcc -O2 -fno-builtin -pthread pairs.c -o pairs
 * (-fno-builtin stops gcc from eliding the malloc/free pair.)
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BATCH = 256, KEEP = 64 };

static char null_block[1 << 16];

__attribute__((noinline)) static void *null_malloc(size_t size) {
  __asm__ volatile("" ::"r"(size));
  return null_block;
}

__attribute__((noinline)) static void null_free(void *p) {
  __asm__ volatile("" ::"r"(p));
}

static void *(*do_malloc)(size_t) = malloc;
static void (*do_free)(void *) = free;

static void *volatile batch[BATCH];
static sem_t filled, emptied;
static size_t batches_left;

static void run_local(size_t size, long n) {
  void *ring[KEEP];
  for (int i = 0; i < KEEP; i++) ring[i] = do_malloc(size);
  for (long i = 0; i < n; i++) {
    char *p = do_malloc(size);
    if (!p) abort();
    p[0] = (char)i;
    do_free(ring[i % KEEP]);
    ring[i % KEEP] = p;
  }
  for (int i = 0; i < KEEP; i++) do_free(ring[i]);
}

static void *freer(void *arg) {
  (void)arg;
  for (;;) {
    sem_wait(&filled);
    if (batches_left == 0) return NULL;
    for (int i = 0; i < BATCH; i++) do_free(batch[i]);
    sem_post(&emptied);
  }
}

static void run_cross(size_t size, long n) {
  pthread_t thread;
  sem_init(&filled, 0, 0);
  sem_init(&emptied, 0, 0);
  batches_left = (size_t)((n + BATCH - 1) / BATCH);
  if (pthread_create(&thread, NULL, freer, NULL) != 0) abort();
  while (batches_left > 0) {
    for (int i = 0; i < BATCH; i++) {
      char *p = do_malloc(size);
      if (!p) abort();
      p[0] = (char)i;
      batch[i] = p;
    }
    sem_post(&filled);
    sem_wait(&emptied);
    batches_left--;
  }
  sem_post(&filled);
  pthread_join(thread, NULL);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s local|cross|null-local|null-cross SIZE N\n",
            argv[0]);
    return 2;
  }
  const char *mode = argv[1];
  size_t size = strtoul(argv[2], NULL, 10);
  long n = strtol(argv[3], NULL, 10);
  if (strncmp(mode, "null-", 5) == 0) {
    do_malloc = null_malloc;
    do_free = null_free;
    mode += 5;
  }
  if (strcmp(mode, "local") == 0) {
    run_local(size, n);
  } else if (strcmp(mode, "cross") == 0) {
    run_cross(size, n);
  } else {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  return 0;
}
