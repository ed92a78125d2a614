#!/usr/bin/env bash
# Installs, through apt-get, whichever programs the compatibility suite
# (tests/compat.rs) runs are missing. Quick when all are present; fails
# loudly if one is still missing afterwards.
set -euo pipefail

# program:Debian package
REQUIRED=(
  python3:python3
  node:nodejs
  gdb:gdb
  git:git
  sqlite3:sqlite3
  bash:bash
  gcc:gcc
)

missing_packages() {
  local entry
  for entry in "${REQUIRED[@]}"; do
    command -v "${entry%%:*}" >/dev/null 2>&1 || echo "${entry#*:}"
  done
}

mapfile -t missing < <(missing_packages)
if ((${#missing[@]} == 0)); then
  echo "test dependencies: all present (${REQUIRED[*]%%:*})"
  exit 0
fi

echo "test dependencies: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

mapfile -t still < <(missing_packages)
if ((${#still[@]} > 0)); then
  echo "test dependencies: still missing after apt-get: ${still[*]}" >&2
  exit 1
fi
echo "test dependencies: all present"
