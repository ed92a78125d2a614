/* Threads: producers hand blocks to consumers that check and free them
   (cross-thread frees); many short-lived threads allocate and exit with
   blocks still live, freed later by main; pthread key destructors
   allocate and free during thread exit. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>

#include "check.h"

#define PRODUCERS 4
#define CONSUMERS 4
#define ITEMS_PER_PRODUCER 10000
#define QUEUE_CAPACITY 256
#define SHORT_LIVED_ROUNDS 50
#define SHORT_LIVED_THREADS 8
#define LEFTOVERS_PER_THREAD 64

struct item {
  void *block;
  size_t size;
  size_t seed;
};

/* A bounded blocking queue. */
static struct {
  pthread_mutex_t lock;
  pthread_cond_t not_empty, not_full;
  struct item items[QUEUE_CAPACITY];
  size_t head, count;
  int producers_left;
} queue = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
           PTHREAD_COND_INITIALIZER, {{0}}, 0, 0, PRODUCERS};

static void push(struct item item) {
  pthread_mutex_lock(&queue.lock);
  while (queue.count == QUEUE_CAPACITY)
    pthread_cond_wait(&queue.not_full, &queue.lock);
  queue.items[(queue.head + queue.count++) % QUEUE_CAPACITY] = item;
  pthread_cond_signal(&queue.not_empty);
  pthread_mutex_unlock(&queue.lock);
}

/* Takes an item; false once every producer is done and the queue empty. */
static int pop(struct item *item) {
  pthread_mutex_lock(&queue.lock);
  while (queue.count == 0 && queue.producers_left > 0)
    pthread_cond_wait(&queue.not_empty, &queue.lock);
  int got = queue.count > 0;
  if (got) {
    *item = queue.items[queue.head];
    queue.head = (queue.head + 1) % QUEUE_CAPACITY;
    queue.count--;
    pthread_cond_signal(&queue.not_full);
  }
  pthread_mutex_unlock(&queue.lock);
  return got;
}

static size_t size_for(size_t seed) {
  static const size_t sizes[] = {8, 24, 100, 640, 3000, 9000, 70000, 300000};
  return sizes[seed % 8] + seed % 17;
}

static void *producer(void *arg) {
  size_t id = (size_t)arg;
  for (size_t i = 0; i < ITEMS_PER_PRODUCER; i++) {
    size_t seed = id * ITEMS_PER_PRODUCER + i;
    size_t size = size_for(seed);
    void *block = (seed % 5 == 0) ? calloc(1, size) : malloc(size);
    REQUIRE(block != NULL);
    fill(block, size, seed);
    if (seed % 7 == 0) {
      /* Grow before handing over: realloc's copy must keep the pattern. */
      block = realloc(block, size * 2);
      REQUIRE(block != NULL);
      fill((char *)block + size, size, seed + 1);
      size *= 2;
      fill(block, size, seed);
    }
    push((struct item){block, size, seed});
  }
  pthread_mutex_lock(&queue.lock);
  queue.producers_left--;
  pthread_cond_broadcast(&queue.not_empty);
  pthread_mutex_unlock(&queue.lock);
  return NULL;
}

static size_t consumed[CONSUMERS];

static void *consumer(void *arg) {
  size_t id = (size_t)arg;
  struct item item;
  while (pop(&item)) {
    CHECK(is_aligned(item.block, MIN_ALIGN));
    CHECK(malloc_usable_size(item.block) >= item.size);
    CHECK(holds(item.block, item.size, item.seed));
    free(item.block);
    consumed[id]++;
  }
  return NULL;
}

static void producers_and_consumers(void) {
  pthread_t producers[PRODUCERS], consumers[CONSUMERS];
  for (size_t i = 0; i < CONSUMERS; i++)
    REQUIRE(pthread_create(&consumers[i], NULL, consumer, (void *)i) == 0);
  for (size_t i = 0; i < PRODUCERS; i++)
    REQUIRE(pthread_create(&producers[i], NULL, producer, (void *)i) == 0);
  for (size_t i = 0; i < PRODUCERS; i++) pthread_join(producers[i], NULL);
  size_t total = 0;
  for (size_t i = 0; i < CONSUMERS; i++) {
    pthread_join(consumers[i], NULL);
    total += consumed[i];
  }
  printf("items consumed: %zu\n", total);
  CHECK(total == (size_t)PRODUCERS * ITEMS_PER_PRODUCER);
}

static pthread_key_t exit_key;

/* Runs at thread exit: frees the thread's value and allocates again. */
static void on_exit_destructor(void *value) {
  CHECK(holds(value, 300, 3));
  free(value);
  void *scratch = malloc(5000);
  REQUIRE(scratch != NULL);
  fill(scratch, 5000, 4);
  CHECK(holds(scratch, 5000, 4));
  free(scratch);
}

/* Allocates, leaves blocks for main to free, and exits. */
static void *short_lived(void *arg) {
  void **leftovers = arg;
  void *value = malloc(300);
  REQUIRE(value != NULL);
  fill(value, 300, 3);
  pthread_setspecific(exit_key, value);
  for (size_t i = 0; i < LEFTOVERS_PER_THREAD; i++) {
    leftovers[i] = malloc(size_for(i));
    REQUIRE(leftovers[i] != NULL);
    fill(leftovers[i], size_for(i), i);
  }
  void *churn[100];
  for (int round = 0; round < 10; round++) {
    for (int i = 0; i < 100; i++) churn[i] = malloc((size_t)(i * 37 % 2000) + 1);
    for (int i = 0; i < 100; i++) free(churn[i]);
  }
  return NULL;
}

static void many_short_lived_threads(void) {
  static void *leftovers[SHORT_LIVED_THREADS][LEFTOVERS_PER_THREAD];
  REQUIRE(pthread_key_create(&exit_key, on_exit_destructor) == 0);
  for (int round = 0; round < SHORT_LIVED_ROUNDS; round++) {
    pthread_t threads[SHORT_LIVED_THREADS];
    for (int i = 0; i < SHORT_LIVED_THREADS; i++)
      REQUIRE(pthread_create(&threads[i], NULL, short_lived, leftovers[i]) == 0);
    for (int i = 0; i < SHORT_LIVED_THREADS; i++) pthread_join(threads[i], NULL);
    /* The threads are gone: their blocks are freed from here. */
    for (int i = 0; i < SHORT_LIVED_THREADS; i++)
      for (size_t j = 0; j < LEFTOVERS_PER_THREAD; j++) {
        CHECK(holds(leftovers[i][j], size_for(j), j));
        free(leftovers[i][j]);
      }
  }
  printf("short-lived threads: %d\n", SHORT_LIVED_ROUNDS * SHORT_LIVED_THREADS);
}

/* Detached threads that exit while main keeps allocating. */
static void *detached(void *arg) {
  free(arg);
  void *p = malloc(1000);
  free(p);
  return NULL;
}

static void detached_threads(void) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (int i = 0; i < 200; i++) {
    pthread_t thread;
    void *gift = malloc(64);
    REQUIRE(pthread_create(&thread, &attr, detached, gift) == 0);
    void *mine = malloc(128);
    free(mine);
  }
  pthread_attr_destroy(&attr);
}

int main(void) {
  print_loaded();
  producers_and_consumers();
  many_short_lived_threads();
  detached_threads();
  return finish("threads");
}
