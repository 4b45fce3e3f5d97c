#!/usr/bin/env bash
# The hot-path benchmark and its profile drive load with wrk (a C load generator; docs/benchmarks.md) beside
# autocannon. Installs it from apt when it is missing, so `npm run bench`, `bench:hot` and `bench:profile` work on a
# fresh machine that has only Node and apt. Prints nothing when it is present. (taskset, for CPU pinning, comes with
# util-linux; the benchmark runs unpinned without it.)
set -euo pipefail

command -v wrk >/dev/null 2>&1 && exit 0

echo "bench tools missing; installing from apt: wrk" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get is not available: install wrk with your package manager, or run the benchmark with BENCH_HOT_WRK=0." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "not root and no sudo: run 'apt-get install -y wrk' as root, or run the benchmark with BENCH_HOT_WRK=0." >&2
    exit 1
  fi
fi
# Install first from the package lists already there; refresh them only when that fails.
if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
