#!/usr/bin/env bash
# The project's test command: builds the LD_PRELOAD library
# (target/release/libtinyalloc.so, which the compatibility suite runs
# programs on), then runs every test of the workspace with the C ABI on.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
cargo build --release --features ffi
cargo test --workspace --features ffi --no-fail-fast
