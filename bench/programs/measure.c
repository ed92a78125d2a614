/* measure: runs a command and prints "SECONDS MAXRSS_KB STATUS" on stderr
 * as its last line.
 *
 *   measure COMMAND [ARGS...]
 *
 * A fresh small process forks the command, so that the command's peak
 * resident size is not inflated by the caller's: Linux carries the peak of
 * the memory image that exec replaces (and the whole caller's, after a
 * vfork) into ru_maxrss.  The command's stdin, stdout and stderr are
 * inherited.
 *
 * Build: gcc -O2 measure.c -o measure
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s COMMAND [ARGS...]\n", argv[0]);
    return 2;
  }
  double start = now();
  pid_t child = fork();
  if (child < 0) {
    perror("fork");
    return 2;
  }
  if (child == 0) {
    execvp(argv[1], argv + 1);
    perror("execvp");
    _exit(127);
  }
  int status = 0;
  struct rusage usage;
  if (wait4(child, &status, 0, &usage) < 0) {
    perror("wait4");
    return 2;
  }
  double seconds = now() - start;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  fprintf(stderr, "\n%.6f %ld %d\n", seconds, usage.ru_maxrss, code);
  return 0;
}
