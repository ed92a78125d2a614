/* dlopen and dlclose, from several threads at once, of a library with an
   allocating initializer and dynamic TLS (which glibc allocates with malloc
   from inside __tls_get_addr); the loader's own allocations go through
   the preloaded malloc. The plugin's path is the first argument. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>

#include "check.h"

#define THREADS 4
#define ROUNDS 30

static const char *plugin_path;

typedef unsigned (*work_fn)(unsigned);
typedef const char *(*greeting_fn)(void);

static unsigned expected(unsigned seed) {
  unsigned sum = 0;
  for (unsigned i = 0; i < 8192; i += 64) sum += (unsigned char)(char)(seed + i);
  return sum + (unsigned char)seed;
}

static void *use_plugin(void *arg) {
  unsigned seed = (unsigned)(size_t)arg;
  for (int round = 0; round < ROUNDS; round++) {
    void *handle = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
    REQUIRE(handle != NULL);
    work_fn work = (work_fn)dlsym(handle, "plugin_work");
    greeting_fn greeting = (greeting_fn)dlsym(handle, "plugin_greeting");
    REQUIRE(work && greeting);
    CHECK(strcmp(greeting(), "plugin ready") == 0);
    CHECK(work(seed + round) == expected(seed + round));
    /* Other system libraries too: their loading allocates. */
    void *math = dlopen("libm.so.6", RTLD_NOW);
    CHECK(math != NULL && dlsym(math, "cos") != NULL);
    if (math) dlclose(math);
    CHECK(dlclose(handle) == 0);
  }
  return NULL;
}

int main(int argc, char **argv) {
  REQUIRE(argc == 2);
  plugin_path = argv[1];
  print_loaded();
  pthread_t threads[THREADS];
  for (size_t i = 0; i < THREADS; i++)
    REQUIRE(pthread_create(&threads[i], NULL, use_plugin, (void *)(i * 7)) == 0);
  for (size_t i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
  void *handle = dlopen(plugin_path, RTLD_NOW);
  REQUIRE(handle != NULL);
  printf("%s\n", ((greeting_fn)dlsym(handle, "plugin_greeting"))());
  dlclose(handle);
  return finish("dlopen");
}
