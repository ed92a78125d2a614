/* The program gdb debugs in the compatibility suite: a breakpoint in
   `leaf`, reached through a few frames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int leaf(int depth) {
  char *scratch = malloc(64);
  strcpy(scratch, "leaf");
  int result = (int)strlen(scratch) + depth;
  free(scratch);
  return result;
}

int middle(int depth) { return leaf(depth + 1) * 2; }

int main(void) {
  printf("result %d\n", middle(3));
  return 0;
}
