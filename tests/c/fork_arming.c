/* A fork that lands while another thread is giving the fork handlers to
   the C library. The handlers are armed at the first allocator lock taken
   once the process has a second thread; `pthread_atfork` then waits for
   a fork in progress, so the child is copied while the arming thread is
   inside it. The child, which allocates, must not wait for that thread
   (it does not exist there). Each attempt runs in a fresh single-threaded
   process, so that arming is still to do; a large mapping, written once,
   makes every fork slow enough to be caught in progress. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* Copying the page tables of this much memory makes a fork last about a
   millisecond. */
#define SLOW_FORK_BYTES ((size_t)256 << 20)
/* The main thread's first lock comes this long after the fork starts. */
#define DELAY_STEP_MICROS 25
#define ATTEMPTS 16
#define CHILD_TIMEOUT_SECONDS 3
/* Above the small classes: every such block takes an arena lock. */
#define LARGE_BYTES 300000
/* Every small class gets a block first, so that `pthread_create`'s own
   allocations find their classes ready and take no lock. */
#define SMALL_STEP 8
#define SMALL_MAX 8192
#define MICROS_PER_SECOND 1000000L
#define NANOS_PER_MICRO 1000L

static atomic_int forking;

/* The grandchild: allocate what takes locks, with an alarm against a
   hang. */
static int grandchild_work(void) {
  alarm(CHILD_TIMEOUT_SECONDS);
  void *large = malloc(LARGE_BYTES);
  void *small = malloc(SMALL_STEP);
  if (!large || !small) return 2;
  fill(large, LARGE_BYTES, 1);
  if (!holds(large, LARGE_BYTES, 1)) return 3;
  free(large);
  free(small);
  return 0;
}

/* Forks at once, without allocating; returns nonzero if the child
   failed. */
static void *forker(void *result) {
  atomic_store(&forking, 1);
  pid_t pid = fork();
  if (pid == 0) _exit(grandchild_work());
  int status = 0;
  int failed = pid < 0 || waitpid(pid, &status, 0) != pid ||
               !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  *(int *)result = failed;
  return NULL;
}

static long micros_since(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) * MICROS_PER_SECOND +
         (now.tv_nsec - start->tv_nsec) / NANOS_PER_MICRO;
}

/* One attempt, in a fresh process: 0 when the grandchild was fine. */
static int attempt(long delay_micros) {
  for (size_t size = SMALL_STEP; size <= SMALL_MAX; size += SMALL_STEP) {
    void *volatile kept = malloc(size);
    (void)kept;
  }
  int failed = 1;
  pthread_t thread;
  if (pthread_create(&thread, NULL, forker, &failed) != 0) return 4;
  while (!atomic_load(&forking)) {
  }
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (micros_since(&start) < delay_micros) {
  }
  void *volatile large = malloc(LARGE_BYTES);
  free(large);
  pthread_join(thread, NULL);
  return failed;
}

int main(void) {
  print_loaded();
  fflush(stdout);
  char *slow = mmap(NULL, SLOW_FORK_BYTES, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(slow != MAP_FAILED);
  memset(slow, 1, SLOW_FORK_BYTES);
  int failures = 0;
  for (int i = 0; i < ATTEMPTS; i++) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(attempt((long)i * DELAY_STEP_MICROS));
    int status;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    failures += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }
  CHECK(failures == 0);
  printf("forks during arming: %d, failed: %d\n", ATTEMPTS, failures);
  return finish("fork_arming");
}
