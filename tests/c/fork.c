/* fork() from a multi-threaded program: while worker threads allocate and
   free (holding the allocator's locks at random moments), the main thread
   and a worker fork; each child allocates, frees, starts a thread and
   exits. A child that deadlocks is killed by the alarm. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define WORKERS 2
/* Pause of the workers between rounds, so children get the CPU. */
#define CHURN_PAUSE_MICROS 200
#define FORKS 24
#define CHILD_TIMEOUT_SECONDS 20

static atomic_int stop;

static void *churn(void *arg) {
  size_t seed = (size_t)arg;
  void *blocks[64] = {0};
  while (!atomic_load(&stop)) {
    for (size_t i = 0; i < 64; i++) {
      free(blocks[i]);
      /* Sizes span small classes, large spans and huge maps. */
      size_t size = (i % 16 == 15) ? (size_t)(seed % 3 + 1) << 20 : i * 97 + seed % 50;
      if (i == 63 && seed % 4 == 0) size = 40 << 20;
      blocks[i] = malloc(size);
      if (blocks[i] && size) ((char *)blocks[i])[0] = 1;
      seed++;
    }
    usleep(CHURN_PAUSE_MICROS);
  }
  for (size_t i = 0; i < 64; i++) free(blocks[i]);
  return NULL;
}

static void *child_thread(void *unused) {
  (void)unused;
  void *p = malloc(5000);
  fill(p, 5000, 5);
  return holds(p, 5000, 5) ? p : NULL;
}

/* What a child does: allocate of every kind, free, use a thread. */
static int child_work(void *inherited, size_t inherited_seed) {
  alarm(CHILD_TIMEOUT_SECONDS);
  if (!holds(inherited, 1000, inherited_seed)) return 2;
  free(inherited);
  void *blocks[200];
  for (size_t i = 0; i < 200; i++) {
    blocks[i] = malloc(i * i * 13 + 1);
    if (!blocks[i]) return 3;
    fill(blocks[i], i * i * 13 + 1, i);
  }
  for (size_t i = 0; i < 200; i++) {
    if (!holds(blocks[i], i * i * 13 + 1, i)) return 4;
    free(blocks[i]);
  }
  pthread_t thread;
  void *result;
  if (pthread_create(&thread, NULL, child_thread, NULL) != 0) return 5;
  pthread_join(thread, &result);
  if (!result) return 6;
  free(result);
  if (tinyalloc_loaded() <= 0) return 7;
  return 0;
}

/* Forks; returns the child's exit status as the parent sees it. */
static int fork_and_check(size_t seed) {
  void *inherited = malloc(1000);
  REQUIRE(inherited != NULL);
  fill(inherited, 1000, seed);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) _exit(child_work(inherited, seed));
  int status;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  free(inherited);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  printf("child killed by signal %d\n", WTERMSIG(status));
  return 100 + WTERMSIG(status);
}

static void *forking_worker(void *arg) {
  int *failures = arg;
  for (size_t i = 0; i < FORKS / 4; i++) *failures += fork_and_check(1000 + i) != 0;
  return NULL;
}

int main(void) {
  print_loaded();
  fflush(stdout);
  pthread_t workers[WORKERS];
  for (size_t i = 0; i < WORKERS; i++)
    REQUIRE(pthread_create(&workers[i], NULL, churn, (void *)(i * 1000)) == 0);
  int failures = 0;
  for (size_t i = 0; i < FORKS; i++) {
    int status = fork_and_check(i);
    if (status) printf("fork %zu: child status %d\n", i, status);
    failures += status != 0;
  }
  int worker_failures = 0;
  pthread_t forker;
  REQUIRE(pthread_create(&forker, NULL, forking_worker, &worker_failures) == 0);
  pthread_join(forker, NULL);
  atomic_store(&stop, 1);
  for (size_t i = 0; i < WORKERS; i++) pthread_join(workers[i], NULL);
  CHECK(failures == 0);
  CHECK(worker_failures == 0);
  printf("forks: %d\n", FORKS + FORKS / 4);
  return finish("fork");
}
