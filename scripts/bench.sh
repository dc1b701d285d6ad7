#!/bin/bash
# npm run bench:<name> [-- args]: installs what the benchmarks need (Debian packages, npm packages,
# a build), then runs dist/bench/<name>-bench.js with the remaining arguments. The benchmark
# starts its own throwaway servers and stops them on every path (bench/bench-servers.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ ! -f "bench/$1-bench.ts" ]; then
  echo "usage: scripts/bench.sh NAME [ARGS...]  (NAME: $(cd bench && ls ./*-bench.ts | sed 's|^\./||; s|-bench\.ts$||' | paste -sd' '))" >&2
  exit 2
fi
name=$1
shift
scripts/install-deps.sh
exec node "dist/bench/$name-bench.js" "$@"
