/* Frees a lot of memory, then sleeps without calling the allocator, and
 * prints its resident size before the free, right after it, and after the
 * nap, in KiB:  "idle: busy=N freed=N rested=N".
 * Only a purge thread can give the pages back during the nap. */
#include <time.h>
#include <unistd.h>

#include "check.h"

enum { BLOCK = 1000, BLOCKS = 40000, NAP_MS = 300 };

/* Resident size in KiB, from /proc/self/statm (no allocation). */
static long resident_kib(void) {
  FILE *statm = fopen("/proc/self/statm", "r");
  REQUIRE(statm != NULL);
  long size = 0, resident = 0;
  REQUIRE(fscanf(statm, "%ld %ld", &size, &resident) == 2);
  fclose(statm);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(void) {
  static void *blocks[BLOCKS];
  for (size_t i = 0; i < BLOCKS; i++) {
    blocks[i] = malloc(BLOCK);
    REQUIRE(blocks[i] != NULL);
    memset(blocks[i], (int)i, BLOCK);
  }
  long busy = resident_kib();
  for (size_t i = 0; i < BLOCKS; i++) {
    free(blocks[i]);
  }
  long freed = resident_kib();
  struct timespec nap = {0, NAP_MS * 1000000L};
  nanosleep(&nap, NULL);
  long rested = resident_kib();
  printf("idle: busy=%ld freed=%ld rested=%ld\n", busy, freed, rested);
  print_loaded();
  return finish("idle");
}
