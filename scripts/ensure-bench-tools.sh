#!/usr/bin/env bash
# The hot-path benchmark and its profile drive load with wrk (a C load generator; docs/benchmarks.md) beside
# autocannon: installs it from apt when it is missing. (taskset, for CPU pinning, comes with util-linux; the
# benchmark runs unpinned without it.) BENCH_HOT_WRK=0 runs the benchmark without wrk.
set -euo pipefail
exec bash "$(dirname "$0")/apt-tools.sh" "bench tools missing" wrk
