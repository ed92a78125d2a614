#!/usr/bin/env bash
# A fork-heavy shell workload: subshells, pipelines, command substitutions
# and background jobs, each a forked copy of this (preloaded) bash.
set -euo pipefail
export LC_ALL=C

ROUNDS=${ROUNDS:-200}

# $BASHPID is the pid of the current (sub)shell: a forked child checks its
# own maps, proving the library survived the fork.
loaded() { grep -c libtinyalloc "/proc/$BASHPID/maps" || true; }
echo "tinyalloc-loaded: $(loaded)"
echo "tinyalloc-loaded: $( (loaded) )"

total=0
declare -A seen
for round in $(seq 1 "$ROUNDS"); do
  words=$(printf '%s\n' "alpha$round" "beta$((round * 3))" "gamma$((round % 7))" \
    | tr 'a-z' 'A-Z' | sort -r | paste -sd, -)
  seen[$words]=$round
  count=$( (echo "$words"; seq "$round") | wc -l)
  total=$((total + count))
  if (( round % 20 == 0 )); then
    for job in 1 2 3 4; do
      ( text=$(seq $((round * job)) | tail -n 1); echo "$text" > "job.$job" ) &
    done
    wait
    total=$((total + $(cat job.1 job.2 job.3 job.4 | paste -sd+ -)))
  fi
done
echo "total: $total"
echo "distinct: ${#seen[@]}"
echo "last: ${seen[GAMMA$((ROUNDS % 7)),BETA$((ROUNDS * 3)),ALPHA$ROUNDS]:-missing}"
big=$(for i in $(seq 1 2000); do printf 'line %d %s\n' "$i" "$(( i * i ))"; done | sort -k3,3n | md5sum)
echo "big: $big"
