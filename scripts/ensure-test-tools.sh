#!/usr/bin/env bash
# The test suite runs real programs: redis-server (tests start their own on free ports), shellcheck (scripts),
# promtool and the prometheus server (metrics, alert rules, the Grafana dashboard's queries), kubectl (renders
# deploy/kubernetes with `kubectl kustomize`, offline), openssl (test certificates), wrk (the benchmark smoke test's
# load generator). Installs the missing ones from apt, so `npm test` works on a fresh machine that has only Node and
# apt. Prints nothing when all are present.
set -euo pipefail

declare -A pkg_of=([redis-server]=redis-server [shellcheck]=shellcheck [promtool]=prometheus [prometheus]=prometheus [kubectl]=kubernetes-client [openssl]=openssl [wrk]=wrk)
missing=()
for tool in redis-server shellcheck promtool prometheus kubectl openssl wrk; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg_of[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "test tools missing; installing from apt: ${missing[*]}" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get is not available: install ${missing[*]} with your package manager, then run npm test again." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "not root and no sudo: run 'apt-get install -y ${missing[*]}' as root, then npm test again." >&2
    exit 1
  fi
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian package starts no server we rely on: the tests start their own redis-server processes.
