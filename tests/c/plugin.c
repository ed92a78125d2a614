/* A library loaded with dlopen by dlopen.c: its initializer allocates, and
   its thread-local variables are dynamic TLS, which glibc allocates with
   malloc on each thread's first access. */
#include <stdlib.h>
#include <string.h>

static char *greeting;
static __thread char tls_buffer[8192];
static __thread char *tls_block;

__attribute__((constructor)) static void plugin_init(void) {
  greeting = strdup("plugin ready");
}

__attribute__((destructor)) static void plugin_fini(void) {
  free(greeting);
}

const char *plugin_greeting(void) { return greeting; }

/* Touches this thread's TLS and returns a checksum of it. */
unsigned plugin_work(unsigned seed) {
  if (!tls_block) tls_block = malloc(1000);
  unsigned sum = 0;
  for (unsigned i = 0; i < sizeof tls_buffer; i += 64) {
    tls_buffer[i] = (char)(seed + i);
    sum += (unsigned char)tls_buffer[i];
  }
  memset(tls_block, (int)seed, 1000);
  sum += (unsigned char)tls_block[999];
  free(tls_block);
  tls_block = NULL;
  return sum;
}
