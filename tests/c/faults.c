/* Misuses the allocator must stop with one clear line and SIGABRT. The
   mode is the first argument; the pointer at fault is printed first (with
   %p, as the allocator's report prints it) so the caller can match it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>

#include "check.h"

static int static_object;

static void announce(void *p) {
  printf("address: %p\n", p);
  fflush(stdout);
}

static void *free_in_thread(void *p) {
  free(p);
  return NULL;
}

static void double_free(size_t size) {
  void *p = malloc(size);
  REQUIRE(p != NULL);
  free(p);
  announce(p);
  free(p);
}

int main(int argc, char **argv) {
  REQUIRE(argc == 2);
  const char *mode = argv[1];
  print_loaded();
  int stack_object = 0;
  if (!strcmp(mode, "double-free-small")) {
    double_free(32);
  } else if (!strcmp(mode, "double-free-large")) {
    double_free(1 << 20);
  } else if (!strcmp(mode, "double-free-cross-thread")) {
    void *p = malloc(48);
    pthread_t thread;
    REQUIRE(pthread_create(&thread, NULL, free_in_thread, p) == 0);
    pthread_join(thread, NULL);
    announce(p);
    free(p);
  } else if (!strcmp(mode, "foreign-free-stack")) {
    announce(&stack_object);
    free(&stack_object);
  } else if (!strcmp(mode, "foreign-free-mmap")) {
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(page != MAP_FAILED);
    announce(page);
    free(page);
  } else if (!strcmp(mode, "foreign-realloc")) {
    announce(&static_object);
    void *p = realloc(&static_object, 100);
    printf("realloc returned %p\n", p);
  } else if (!strcmp(mode, "interior-free")) {
    char *p = malloc(64);
    announce(p + 16);
    free(p + 16);
  } else {
    printf("unknown mode %s\n", mode);
    return 2;
  }
  printf("survived the fault\n");
  return 0;
}
