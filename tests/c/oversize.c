/* Requests larger than the machine's memory (RAM plus swap, twice over)
   fail with ENOMEM, as glibc's do, instead of handing out address space
   that cannot be backed. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/sysinfo.h>

#include "check.h"

/* Checks that an allocation failed with ENOMEM; frees it if not. */
static void expect_enomem(const char *what, void *p) {
  if (p != NULL || errno != ENOMEM) {
    printf("FAIL %s: %p errno=%d\n", what, p, errno);
    check_failures++;
  }
  free(p);
}

int main(void) {
  struct sysinfo info;
  REQUIRE(sysinfo(&info) == 0);
  size_t memory = ((size_t)info.totalram + info.totalswap) * info.mem_unit;
  size_t request = 2 * memory;
  print_loaded();
  errno = 0;
  expect_enomem("malloc", malloc(request));
  errno = 0;
  expect_enomem("calloc", calloc(request / 16, 16));
  errno = 0;
  expect_enomem("aligned_alloc", aligned_alloc(1 << 20, request));
  void *p = malloc(100);
  REQUIRE(p != NULL);
  errno = 0;
  void *q = realloc(p, request);
  expect_enomem("realloc", q);
  if (q == NULL) free(p);
  p = NULL;
  int status = posix_memalign(&p, 4096, request);
  if (status != ENOMEM || p != NULL) {
    printf("FAIL posix_memalign: %d %p\n", status, p);
    check_failures++;
    free(p);
  }
  return finish("oversize");
}
