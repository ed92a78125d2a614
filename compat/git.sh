#!/usr/bin/env bash
# A git workload in the current (empty) directory: init, a few hundred
# files over several commits, log, gc, fsck. Dates and identities are fixed,
# so the output is the same on every run and allocator.
set -euo pipefail

export GIT_AUTHOR_NAME="Compat Tester" GIT_AUTHOR_EMAIL="compat@example.invalid"
export GIT_COMMITTER_NAME="Compat Tester" GIT_COMMITTER_EMAIL="compat@example.invalid"
export GIT_AUTHOR_DATE="2024-01-01T00:00:00Z" GIT_COMMITTER_DATE="2024-01-01T00:00:00Z"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null HOME="$PWD"
export LC_ALL=C TZ=UTC

FILES=${FILES:-300}
COMMITS=${COMMITS:-5}

git init -q -b main repo
cd repo
# Proves that git itself, not only this shell, runs on the library: the
# alias's shell is a child of git, so $PPID is git's pid.
git -c alias.maps='!grep -c libtinyalloc /proc/$PPID/maps || true' maps \
  | sed 's/^/tinyalloc-loaded: /'
for commit in $(seq 1 "$COMMITS"); do
  mkdir -p dir0 dir1 dir2 dir3
  for file in $(seq 1 "$FILES"); do
    if (( (file + commit) % 3 == 0 || commit == 1 )); then
      printf 'file %d commit %d\n%s\n' "$file" "$commit" \
        "$(seq "$file" "$((file + commit * 7))" | tr '\n' ' ')" \
        > "dir$((file % 4))/f$file.txt"
    fi
  done
  git add -A
  git commit -q -m "commit $commit"
done
git log --format='%H %s' --stat | tail -n 20
git log --oneline | wc -l
git rev-list --all --objects | wc -l
git gc -q --aggressive
git count-objects -v | grep -E '^(count|in-pack|garbage):'
git fsck --full --strict --no-progress
git verify-pack .git/objects/pack/*.idx && echo pack verified
git rev-parse HEAD HEAD^{tree}
git grep -c 'commit 5' | wc -l
git diff --stat HEAD~3 HEAD | tail -n 1
