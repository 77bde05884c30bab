#!/usr/bin/env bash
# Installs what building and testing mpimr needs on Debian 12, and nothing
# that is already there: a compiler, CMake, Open MPI, hwloc, cmocka,
# pkg-config, valgrind and procps (pgrep: the tests that signal ranks). Runs
# apt-get only when something is missing.
# usage: scripts/install-deps.sh [EXTRA_PACKAGE...]
set -euo pipefail
packages=(build-essential cmake pkg-config libopenmpi-dev openmpi-bin openmpi-common libhwloc-dev procps
          libcmocka-dev valgrind python3 "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
