/* fork() from a thread that never allocated, while the main thread, whose
   heap dates from before the process had a second thread, keeps taking the
   allocator's locks (every large block goes through its arena's lock).
   The fork handlers reach the C library only once the process has a
   second thread, at the next allocator lock any thread takes (here that
   is the allocation `pthread_create` makes in the main thread, see
   fork_arming.c for a fork during the arming itself); if they did not, a
   fork would copy a lock the main thread held and the child, which
   allocates large blocks from the same arena, would wait for it forever
   (the alarm then kills it). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define FORKS 40
#define CHILD_TIMEOUT_SECONDS 5
/* Large enough for the large-span path (above the 8 KiB small classes,
   below the 32 MiB of a span), varied so spans move in the arena. */
#define LARGE_BYTES (256 << 10)
#define LARGE_STEP 4096
#define LARGE_VARIANTS 8
#define SMALL_BYTES 100
#define CHILD_ROUNDS 16

static atomic_int done;

/* What a child does: allocate and free large and small blocks. */
static int child_work(void) {
  alarm(CHILD_TIMEOUT_SECONDS);
  for (size_t i = 0; i < CHILD_ROUNDS; i++) {
    size_t large_bytes = LARGE_BYTES + (i % LARGE_VARIANTS) * LARGE_STEP;
    void *large = malloc(large_bytes);
    void *small = malloc(SMALL_BYTES);
    if (!large || !small) return 2;
    fill(large, large_bytes, i);
    fill(small, SMALL_BYTES, i);
    if (!holds(large, large_bytes, i) || !holds(small, SMALL_BYTES, i))
      return 3;
    free(large);
    free(small);
  }
  return 0;
}

/* Forks FORKS times without allocating; counts the children that failed. */
static void *forker(void *arg) {
  int *failures = arg;
  for (int i = 0; i < FORKS && *failures == 0; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      (*failures)++;
      break;
    }
    if (pid == 0) _exit(child_work());
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
      (*failures)++;
  }
  atomic_store(&done, 1);
  return NULL;
}

int main(void) {
  print_loaded();
  fflush(stdout);
  /* The main thread's heap, taken while the process has one thread. */
  void *first = malloc(SMALL_BYTES);
  REQUIRE(first != NULL);
  free(first);
  int failures = 0;
  pthread_t thread;
  REQUIRE(pthread_create(&thread, NULL, forker, &failures) == 0);
  /* Untouched blocks: the loop spends most of its time in the allocator,
     so without the handlers nearly every fork copies a held lock. */
  size_t rounds = 0;
  while (!atomic_load(&done)) {
    size_t large_bytes = LARGE_BYTES + (rounds % LARGE_VARIANTS) * LARGE_STEP;
    void *block = malloc(large_bytes);
    REQUIRE(block != NULL);
    free(block);
    rounds++;
  }
  pthread_join(thread, NULL);
  CHECK(failures == 0);
  printf("forks from a thread without a heap: %d, failed: %d\n", FORKS,
         failures);
  return finish("fork_heapless");
}
