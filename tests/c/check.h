/* Shared helpers of the compatibility test programs. */
#ifndef TINYALLOC_CHECK_H
#define TINYALLOC_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The alignment every malloc result must have: max_align_t's. */
#define MIN_ALIGN _Alignof(max_align_t)

static int check_failures;

/* Records a failed expectation without stopping, so one run reports all. */
#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);               \
      check_failures++;                                                    \
    }                                                                      \
  } while (0)

/* Stops at once: for conditions later checks depend on. */
#define REQUIRE(cond)                                                      \
  do {                                                                     \
    if (!(cond)) {                                                         \
      printf("FAIL %s:%d: %s (fatal)\n", __FILE__, __LINE__, #cond);       \
      fflush(stdout);                                                      \
      exit(1);                                                             \
    }                                                                      \
  } while (0)

static inline int is_aligned(const void *p, size_t align) {
  return ((uintptr_t)p & (align - 1)) == 0;
}

/* A byte pattern that depends on the block's seed and the position. */
static inline unsigned char pattern(size_t seed, size_t i) {
  return (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}

/* Blocks up to this size are filled and checked whole; larger ones at
   their ends and at every STRIDE-th byte, which touches every page. */
#define DENSE_BYTES 1024
#define STRIDE 61

/* Runs `body` for each byte index `i` that fill and holds cover. */
#define FOR_COVERED(n, i, body)                                            \
  do {                                                                     \
    size_t end_ = (n);                                                     \
    size_t head_ = end_ < DENSE_BYTES ? end_ : DENSE_BYTES / 2;            \
    for (size_t i = 0; i < head_; i++) body;                               \
    if (end_ > head_) {                                                    \
      size_t tail_ = end_ - DENSE_BYTES / 2;                               \
      for (size_t i = head_; i < tail_; i += STRIDE) body;                 \
      for (size_t i = tail_; i < end_; i++) body;                          \
    }                                                                      \
  } while (0)

static inline void fill(void *p, size_t n, size_t seed) {
  unsigned char *b = p;
  FOR_COVERED(n, i, b[i] = pattern(seed, i));
}

static inline int holds(const void *p, size_t n, size_t seed) {
  const unsigned char *b = p;
  int ok = 1;
  FOR_COVERED(n, i, ok &= b[i] == pattern(seed, i));
  return ok;
}

/* How many lines of this process's maps name the library: > 0 when it is
   really loaded (under LD_PRELOAD). */
static inline int tinyalloc_loaded(void) {
  FILE *maps = fopen("/proc/self/maps", "r");
  char line[4096];
  int count = 0;
  if (!maps) return -1;
  while (fgets(line, sizeof line, maps))
    if (strstr(line, "libtinyalloc")) count++;
  fclose(maps);
  return count;
}

static inline void print_loaded(void) {
  printf("tinyalloc-loaded: %d\n", tinyalloc_loaded());
}

static inline int finish(const char *name) {
  printf("%s: %s\n", name, check_failures ? "FAILED" : "all checks passed");
  return check_failures ? 1 : 0;
}

#endif
