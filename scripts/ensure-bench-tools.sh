#!/usr/bin/env bash
# The hot-path benchmark and its profile drive load with wrk (a C load generator; docs/benchmarks.md) beside
# autocannon, and its open-loop rows with bench/tools/openloop.c, built with the machine's C compiler: installs
# them from apt when they are missing. (taskset, for CPU pinning, comes with util-linux; the
# benchmark runs unpinned without it.) BENCH_HOT_WRK=0 runs the benchmark without wrk.
set -euo pipefail
exec bash "$(dirname "$0")/apt-tools.sh" "bench tools missing" wrk cc=build-essential
