#!/usr/bin/env bash
# The test suite runs real programs: redis-server (tests start their own on free ports; the Debian package's own
# server is not used), shellcheck (scripts), promtool and the prometheus server (metrics, alert rules, the Grafana
# dashboard's queries), kubectl (renders deploy/kubernetes with `kubectl kustomize`, offline), openssl (test
# certificates), wrk and a C compiler (the benchmark smoke test's load generators: wrk, and bench/tools/openloop.c built
# with cc). Installs the missing ones from apt.
set -euo pipefail
exec bash "$(dirname "$0")/apt-tools.sh" "test tools missing" redis-server shellcheck promtool=prometheus prometheus kubectl=kubernetes-client openssl wrk cc=build-essential
