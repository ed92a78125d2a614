"""Writes a C file (stdout) of FUNCTIONS generated functions with loops,
switches and arithmetic, for gcc -O2 to chew on.  FUNCTIONS = 400 * SCALE
(argv[1])."""

import sys

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
FUNCTIONS = int(400 * SCALE)

print("#include <stddef.h>")
print("struct rec { int a, b; double c; struct rec *next; };")
for f in range(FUNCTIONS):
    cases = "\n".join(
        f"      case {c}: acc += r->a * {c + f} + (int)(r->c * {c}); break;"
        for c in range(12)
    )
    print(f"""
int f{f}(struct rec *r, const int *v, size_t n) {{
  int acc = {f};
  for (size_t i = 0; i < n; i++) {{
    switch ((v[i] + {f}) % 12) {{
{cases}
    }}
    if (r->next && (acc & {f % 7 + 1})) r = r->next;
    acc ^= (acc << {f % 5 + 1}) + v[(i * {f % 3 + 1}) % n];
  }}
  return acc + (f{f - 1 if f else 0} == 0);
}}""")
print("int main(void) { return 0; }")
