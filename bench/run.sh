#!/bin/sh
# Runs the whole benchmark suite; see docs/BENCHMARKS.md.
#   bench/run.sh            full mode
#   QUICK=1 bench/run.sh    quick mode
# Tables go to stdout and bench/results/summary.md; raw runs to
# bench/results/*.csv; the chart to bench/results/chart.svg.
set -eu
cd "$(dirname "$0")/.."
for tool in cargo python3; do
  command -v "$tool" >/dev/null || { echo "bench/run.sh needs $tool" >&2; exit 1; }
done
exec python3 bench/run.py "$@"
