"""Writes a git fast-import stream (stdout): COMMITS commits over FILES
text files, each commit rewriting a few lines of a few files, so that
`git log -p` has real diffs to compute.  COMMITS = 300 * SCALE (argv[1])."""

import sys

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
COMMITS = int(300 * SCALE)
FILES = 200
LINES = 120
CHANGED_FILES = 8

out = sys.stdout.buffer
state = {f: [f"file {f} line {i}\n" for i in range(LINES)] for f in range(FILES)}


def blob(text):
    data = text.encode()
    out.write(b"data %d\n" % len(data) + data + b"\n")


for c in range(COMMITS):
    message = f"commit {c}\n"
    out.write(b"commit refs/heads/main\n")
    out.write(b"committer Bench <bench@example.invalid> %d +0000\n"
              % (1_700_000_000 + c))
    blob(message)
    touched = range(FILES) if c == 0 else [
        (c * 7 + k * 31) % FILES for k in range(CHANGED_FILES)]
    for f in touched:
        lines = state[f]
        for k in range(3):
            lines[(c * 13 + k * 17 + f) % LINES] = f"c{c} f{f} k{k} edit\n"
        if c % 5 == 0:
            lines.insert((c + f) % LINES, f"inserted at {c}\n")
        out.write(b"M 100644 inline dir%d/file%d.txt\n" % (f % 10, f))
        blob("".join(lines))
out.write(b"done\n")
