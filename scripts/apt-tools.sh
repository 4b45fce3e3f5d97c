#!/usr/bin/env bash
# Installs from apt the programs of the arguments that are missing (`program` or `program=package` when the Debian
# package is named otherwise), so `npm test` and the benchmarks work on a fresh machine that has only Node and apt.
# Prints nothing when all are present. Used by ensure-test-tools.sh and ensure-bench-tools.sh.
#   bash scripts/apt-tools.sh "what needs them" redis-server promtool=prometheus
set -euo pipefail

purpose=$1
shift
missing=()
for spec in "$@"; do
  tool=${spec%%=*}
  pkg=${spec#*=}
  command -v "$tool" >/dev/null 2>&1 && continue
  [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "$purpose: installing from apt: ${missing[*]}" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get is not available: install ${missing[*]} with your package manager, then try again." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "not root and no sudo: run 'apt-get install -y ${missing[*]}' as root, then try again." >&2
    exit 1
  fi
fi
# Install first from the package lists already there; refresh them only when that fails.
if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
