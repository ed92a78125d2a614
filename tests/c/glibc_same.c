/* Observations on the corner cases where TinyAlloc follows glibc: the
   output must be the same under glibc's malloc and under TinyAlloc. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"

#define SHOW(label, expr) printf("%s: %d\n", label, (int)(expr))

static void show_null_errno(const char *label, void *p) {
  printf("%s: %s errno=%d\n", label, p ? "pointer" : "null", p ? 0 : errno);
  free(p);
}

int main(void) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  void *p = malloc(10), *q;
  print_loaded();
  errno = 0;
  q = realloc(p, 0);
  printf("realloc(p, 0): %s errno=%d\n", q ? "pointer" : "null", errno);
  free(q);
  errno = 0;
  show_null_errno("realloc(NULL, 0)", realloc(NULL, 0));
  p = malloc(0);
  q = malloc(0);
  SHOW("malloc(0) unique", p && q && p != q);
  free(p);
  free(q);
  free(NULL);
  errno = 0;
  show_null_errno("malloc(SIZE_MAX)", malloc(SIZE_MAX));
  errno = 0;
  show_null_errno("malloc(PTRDIFF_MAX)", malloc(PTRDIFF_MAX));
  errno = 0;
  show_null_errno("calloc overflow", calloc(SIZE_MAX / 2, 3));
  errno = 0;
  show_null_errno("reallocarray overflow", reallocarray(NULL, SIZE_MAX / 2, 3));
  p = malloc(5);
  errno = 0;
  show_null_errno("reallocarray(p, 0, 5)", reallocarray(p, 0, 5));
  p = malloc(5);
  errno = 0;
  show_null_errno("realloc(p, SIZE_MAX)", realloc(p, SIZE_MAX));
  free(p);
  errno = 0;
  show_null_errno("pvalloc(SIZE_MAX)", pvalloc(SIZE_MAX));
  p = &page;
  errno = 77;
  SHOW("posix_memalign(24)", posix_memalign(&p, 24, 8));
  SHOW("posix_memalign(4)", posix_memalign(&p, 4, 8));
  SHOW("  untouched", p == &page && errno == 77);
  SHOW("posix_memalign(8, 0)", posix_memalign(&p, 8, 0));
  SHOW("  pointer", p != &page && p != NULL);
  free(p);
  p = valloc(1);
  SHOW("valloc page aligned", p && is_aligned(p, page));
  free(p);
  p = pvalloc(1);
  SHOW("pvalloc page aligned", p && is_aligned(p, page));
  free(p);
  p = aligned_alloc(64, 100);
  SHOW("aligned_alloc(64)", p && is_aligned(p, 64));
  free(p);
  p = memalign(4096, 10);
  SHOW("memalign(4096)", p && is_aligned(p, 4096));
  free(p);
  SHOW("malloc_usable_size(NULL)", malloc_usable_size(NULL));
  SHOW("mallopt(M_ARENA_MAX)", mallopt(M_ARENA_MAX, 1));
  SHOW("mallopt(unknown)", mallopt(12345, 1));
  int trim = malloc_trim(0);
  SHOW("malloc_trim is 0 or 1", trim == 0 || trim == 1);
  return 0;
}
