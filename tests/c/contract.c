/* The C contract of every function of the malloc family, as TinyAlloc
   documents it (src/ffi.rs): alignment, usable size, contents kept across
   realloc, calloc zeroing, errno values, aliases. Run under LD_PRELOAD. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"

/* Requests of every kind: tiny, small classes, large spans, huge maps. */
static const size_t SIZES[] = {0,    1,     7,      8,       15,       16,
                               17,   24,    100,    255,     1000,     4096,
                               8191, 8192,  8193,   65536,   100000,   1 << 20,
                               3 << 20, 33 << 20, 40 << 20};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])

static void *early_block;
static int early_aligned;

/* Runs before main: the loader and libc have called malloc already, and
   here a program does. */
__attribute__((constructor)) static void allocate_before_main(void) {
  early_block = malloc(100);
  early_aligned = early_block && is_aligned(early_block, MIN_ALIGN);
  if (early_block) fill(early_block, 100, 99);
}

static void check_malloc(void) {
  void *blocks[NSIZES];
  for (size_t i = 0; i < NSIZES; i++) {
    blocks[i] = malloc(SIZES[i]);
    REQUIRE(blocks[i] != NULL);
    CHECK(is_aligned(blocks[i], MIN_ALIGN));
    size_t usable = malloc_usable_size(blocks[i]);
    CHECK(usable >= SIZES[i]);
    fill(blocks[i], usable, i);
  }
  for (size_t i = 0; i < NSIZES; i++) {
    CHECK(holds(blocks[i], malloc_usable_size(blocks[i]), i));
    free(blocks[i]);
  }
  /* malloc(0) gives distinct, usable pointers. */
  void *zero[64];
  for (int i = 0; i < 64; i++) {
    zero[i] = malloc(0);
    REQUIRE(zero[i] != NULL);
    for (int j = 0; j < i; j++) CHECK(zero[i] != zero[j]);
  }
  for (int i = 0; i < 64; i++) free(zero[i]);
  free(NULL);
  CHECK(early_block != NULL && early_aligned && holds(early_block, 100, 99));
  free(early_block);
}

static void check_huge_failures(void) {
  const size_t impossible[] = {SIZE_MAX, SIZE_MAX - 4096, PTRDIFF_MAX,
                               (size_t)PTRDIFF_MAX + 1, (size_t)1 << 62};
  for (size_t i = 0; i < sizeof impossible / sizeof impossible[0]; i++) {
    errno = 0;
    CHECK(malloc(impossible[i]) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc(1, impossible[i]) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(aligned_alloc(4096, impossible[i]) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(valloc(impossible[i]) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(pvalloc(impossible[i]) == NULL && errno == ENOMEM);
  }
}

static void check_calloc(void) {
  for (size_t i = 0; i < NSIZES; i++) {
    /* Dirty memory of the same size first, so calloc must clear reuse. */
    void *dirty = malloc(SIZES[i]);
    REQUIRE(dirty != NULL);
    memset(dirty, 0xa5, SIZES[i]);
    free(dirty);
    unsigned char *p = calloc(SIZES[i], 1);
    REQUIRE(p != NULL);
    CHECK(is_aligned(p, MIN_ALIGN));
    size_t nonzero = 0;
    for (size_t j = 0; j < SIZES[i]; j++) nonzero += p[j] != 0;
    CHECK(nonzero == 0);
    free(p);
  }
  unsigned char *p = calloc(1000, 8);
  REQUIRE(p != NULL);
  for (size_t j = 0; j < 8000; j++) CHECK(p[j] == 0);
  free(p);
  void *none = calloc(0, 16);
  CHECK(none != NULL);
  free(none);
  errno = 0;
  CHECK(calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(calloc((size_t)1 << 33, (size_t)1 << 33) == NULL && errno == ENOMEM);
}

static void check_realloc(void) {
  /* Grow then shrink through every kind of block, keeping contents. */
  size_t size = 10;
  unsigned char *p = malloc(size);
  REQUIRE(p != NULL);
  fill(p, size, 7);
  for (size_t i = 0; i < NSIZES; i++) {
    size_t next = SIZES[i] ? SIZES[i] : 1;
    unsigned char *q = realloc(p, next);
    REQUIRE(q != NULL);
    CHECK(is_aligned(q, MIN_ALIGN));
    CHECK(malloc_usable_size(q) >= next);
    size_t kept = size < next ? size : next;
    CHECK(holds(q, kept, 7));
    fill(q, next, 7);
    p = q;
    size = next;
  }
  for (size_t i = NSIZES; i-- > 0;) {
    size_t next = SIZES[i] ? SIZES[i] : 1;
    unsigned char *q = realloc(p, next);
    REQUIRE(q != NULL);
    CHECK(holds(q, size < next ? size : next, 7));
    fill(q, next, 7);
    p = q;
    size = next;
  }
  /* A failed realloc leaves the block alone. */
  errno = 0;
  CHECK(realloc(p, SIZE_MAX) == NULL && errno == ENOMEM);
  CHECK(holds(p, size, 7));
  /* realloc(p, 0) frees and returns NULL without touching errno. */
  errno = 0;
  CHECK(realloc(p, 0) == NULL && errno == 0);
  /* realloc(NULL, n) is malloc(n). */
  p = realloc(NULL, 100);
  CHECK(p != NULL && is_aligned(p, MIN_ALIGN) && malloc_usable_size(p) >= 100);
  free(p);
  p = realloc(NULL, 0);
  CHECK(p != NULL);
  free(p);
}

static void check_reallocarray(void) {
  int *p = reallocarray(NULL, 100, sizeof(int));
  REQUIRE(p != NULL);
  for (int i = 0; i < 100; i++) p[i] = i * 3;
  int *q = reallocarray(p, 5000, sizeof(int));
  REQUIRE(q != NULL);
  for (int i = 0; i < 100; i++) CHECK(q[i] == i * 3);
  errno = 0;
  CHECK(reallocarray(q, SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
  CHECK(q[99] == 297);
  errno = 0;
  CHECK(reallocarray(q, 0, sizeof(int)) == NULL && errno == 0);
}

static void check_posix_memalign(void) {
  for (size_t align = sizeof(void *); align <= ((size_t)1 << 26); align <<= 1) {
    for (size_t i = 0; i < NSIZES; i += 3) {
      void *p = NULL;
      int status = posix_memalign(&p, align, SIZES[i]);
      REQUIRE(status == 0 && p != NULL);
      CHECK(is_aligned(p, align));
      CHECK(malloc_usable_size(p) >= SIZES[i]);
      fill(p, SIZES[i], align);
      CHECK(holds(p, SIZES[i], align));
      free(p);
    }
  }
  const size_t bad[] = {0, 1, 2, 4, 12, 24, 48, 4097, SIZE_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    void *p = (void *)&bad;
    errno = 1234;
    CHECK(posix_memalign(&p, bad[i], 16) == EINVAL);
    CHECK(p == (void *)&bad && errno == 1234);
  }
  void *p = (void *)&bad;
  errno = 1234;
  CHECK(posix_memalign(&p, (size_t)1 << 62, 16) == ENOMEM);
  CHECK(posix_memalign(&p, 64, SIZE_MAX) == ENOMEM);
  CHECK(p == (void *)&bad && errno == 1234);
}

typedef void *(*aligner)(size_t, size_t);

static void check_aligner(aligner f) {
  for (size_t align = 1; align <= ((size_t)1 << 24); align <<= 1) {
    void *p = f(align, 100);
    REQUIRE(p != NULL);
    CHECK(is_aligned(p, align) && is_aligned(p, MIN_ALIGN));
    free(p);
  }
  /* A size that is not a multiple of the alignment is fine. */
  void *p = f(256, 1000);
  CHECK(p != NULL && is_aligned(p, 256));
  free(p);
  const size_t bad[] = {0, 3, 12, 24, 48, 100, 4097, SIZE_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    CHECK(f(bad[i], 16) == NULL && errno == EINVAL);
  }
  errno = 0;
  CHECK(f((size_t)1 << 62, 16) == NULL && errno == ENOMEM);
}

static void check_page_aligned(void) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const size_t sizes[] = {0, 1, page - 1, page, page + 1, 10 * page + 3};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    void *v = valloc(sizes[i]);
    REQUIRE(v != NULL);
    CHECK(is_aligned(v, page) && malloc_usable_size(v) >= sizes[i]);
    void *pv = pvalloc(sizes[i]);
    REQUIRE(pv != NULL);
    size_t rounded = sizes[i] ? (sizes[i] + page - 1) / page * page : page;
    CHECK(is_aligned(pv, page) && malloc_usable_size(pv) >= rounded);
    memset(pv, 1, rounded);
    free(v);
    free(pv);
  }
}

static void check_misc(void) {
  CHECK(malloc_usable_size(NULL) == 0);
  CHECK(mallopt(M_ARENA_MAX, 1) == 1);
  CHECK(mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1);
  CHECK(mallopt(12345, 0) == 1);
  /* cfree is no longer declared by glibc's headers: reach it by name. */
  void (*cfree_fn)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
  REQUIRE(cfree_fn != NULL);
  cfree_fn(malloc(10));
  /* Freeing many large blocks, then trimming, gives memory back. */
  void *big[16];
  for (int i = 0; i < 16; i++) {
    big[i] = malloc(2 << 20);
    REQUIRE(big[i] != NULL);
    memset(big[i], 1, 2 << 20);
  }
  for (int i = 0; i < 16; i++) free(big[i]);
  CHECK(malloc_trim(0) == 1);
  int again = malloc_trim(0);
  CHECK(again == 0 || again == 1);
  malloc_stats();
}

/* Every exported name resolves to the library, not to glibc. */
static void check_symbols(void) {
  const char *names[] = {
      "malloc",        "free",          "calloc",         "realloc",
      "reallocarray",  "posix_memalign", "aligned_alloc", "memalign",
      "valloc",        "pvalloc",       "malloc_usable_size", "cfree",
      "malloc_trim",   "mallopt",       "malloc_stats",   "__libc_malloc",
      "__libc_free",   "__libc_calloc", "__libc_realloc", "__libc_memalign"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    void *symbol = dlsym(RTLD_DEFAULT, names[i]);
    Dl_info info;
    int found = symbol && dladdr(symbol, &info) && info.dli_fname &&
                strstr(info.dli_fname, "libtinyalloc");
    if (!found) printf("FAIL symbol %s does not resolve to libtinyalloc\n", names[i]);
    check_failures += !found;
  }
  void *(*libc_malloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__libc_malloc");
  void (*libc_free)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "__libc_free");
  REQUIRE(libc_malloc && libc_free);
  void *p = libc_malloc(40);
  CHECK(p != NULL && malloc_usable_size(p) >= 40);
  libc_free(p);
}

int main(void) {
  print_loaded();
  check_malloc();
  check_huge_failures();
  check_calloc();
  check_realloc();
  check_reallocarray();
  check_posix_memalign();
  check_aligner(aligned_alloc);
  check_aligner(memalign);
  check_page_aligned();
  check_misc();
  check_symbols();
  return finish("contract");
}
